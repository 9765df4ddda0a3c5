/**
 * The application shell: screens by simple state (no router). It reaches the engine through the
 * hooks of `lib/sotto` like every feature; `main.tsx` mounts the one `SottoProvider` around it.
 */

import { useEffect, useState } from "react";
import { createPortal } from "react-dom";

import { ConnectionBadge, ErrorText, Modal } from "../components/ui";
import { AuthScreen, AwaitingApproval } from "../features/auth/AuthScreen";
import { ConversationList } from "../features/conversations/ConversationList";
import { NewConversation } from "../features/conversations/NewConversation";
import { DevicesScreen } from "../features/devices/DevicesScreen";
import { ChatView } from "../features/messages/ChatView";
import { RecoverScreen } from "../features/recovery/RecoverScreen";
import { RecoveredDialog } from "../features/recovery/RecoveredDialog";
import { RecoveryPanel } from "../features/recovery/RecoveryPanel";
import { RecoveryOffer } from "../features/recovery/RecoveryOffer";
import { MembersPanel } from "../features/messages/MembersPanel";
import { BlockedUsers } from "../features/requests/BlockedUsers";
import { RequestList } from "../features/requests/RequestList";
import { IdentityChangeWarning } from "../features/verification/IdentityChangeWarning";
import { SafetyNumberScreen } from "../features/verification/SafetyNumber";
import { useSotto, useSottoView } from "../lib/sotto";
import { ThemeToggle } from "./theme";

type Screen =
  | { readonly kind: "home" }
  | { readonly kind: "chat"; readonly conv: string }
  | { readonly kind: "members"; readonly conv: string }
  | { readonly kind: "new" }
  | { readonly kind: "devices" }
  | { readonly kind: "requests" }
  | { readonly kind: "request"; readonly conv: string }
  | { readonly kind: "blocked" }
  | { readonly kind: "safety"; readonly account: string; readonly back: Screen };

export function App() {
  const client = useSotto();
  const view = useSottoView();
  const [screen, setScreen] = useState<Screen>({ kind: "home" });
  const [recovering, setRecovering] = useState(false);
  const [, setTick] = useState(0);

  useEffect(() => {
    if (view.connection.kind !== "waiting") return;
    const t = setInterval(() => {
      setTick((x) => x + 1);
    }, 1000);
    return () => {
      clearInterval(t);
    };
  }, [view.connection.kind]);

  // Focus follows navigation: the new screen's heading (the chat view focuses its composer).
  useEffect(() => {
    if (screen.kind === "chat" || screen.kind === "home") return;
    const heading = document.querySelector<HTMLElement>("#content h2");
    if (heading !== null) {
      heading.tabIndex = -1;
      heading.focus();
    }
  }, [screen]);

  switch (view.phase.kind) {
    case "loading":
      return (
        <main className="auth" aria-busy="true">
          <p>Opening Sotto…</p>
          {view.error !== undefined && (
            <p role="status" data-testid="boot-status">
              {view.error}
            </p>
          )}
        </main>
      );
    case "signed-out":
      return recovering ? (
        <RecoverScreen
          onCancel={() => {
            setRecovering(false);
          }}
        />
      ) : (
        <AuthScreen
          knownUsername={view.phase.knownUsername}
          error={view.error}
          onRecover={() => {
            setRecovering(true);
          }}
        />
      );
    case "awaiting-approval":
      return <AwaitingApproval code={view.phase.code} device={view.phase.device} />;
    case "ready":
      break;
  }

  const selectedConv =
    screen.kind === "chat" || screen.kind === "members"
      ? view.conversations.find((c) => c.id === screen.conv)
      : undefined;
  const openedRequest =
    screen.kind === "request"
      ? view.requests.find((r) => r.info.conversation === screen.conv)
      : undefined;
  const reviewing = screen.kind === "safety" ? screen.account : undefined;
  const alert = view.alerts.find((a) => a.account !== reviewing);
  const verify = (account: string) => {
    setScreen({ kind: "safety", account, back: screen });
  };

  let content;
  switch (screen.kind) {
    case "home":
      content = <p className="page hint">Select a conversation, or start a new one.</p>;
      break;
    case "new":
      content = (
        <NewConversation
          onCreated={(conv) => {
            setScreen({ kind: "chat", conv });
          }}
          onCancel={() => {
            setScreen({ kind: "home" });
          }}
        />
      );
      break;
    case "chat":
      content =
        selectedConv === undefined ? (
          <p className="page">Loading conversation…</p>
        ) : (
          <ChatView
            conv={selectedConv}
            onBack={() => {
              setScreen({ kind: "home" });
            }}
            onMembers={() => {
              setScreen({ kind: "members", conv: selectedConv.id });
            }}
            onVerify={verify}
          />
        );
      break;
    case "members":
      content =
        selectedConv === undefined ? null : (
          <MembersPanel
            conv={selectedConv}
            onClose={() => {
              setScreen({ kind: "chat", conv: selectedConv.id });
            }}
            onVerify={verify}
          />
        );
      break;
    case "requests":
      content = (
        <RequestList
          requests={view.requests}
          onOpen={(conv) => {
            setScreen({ kind: "request", conv });
          }}
          onAccepted={(conv) => {
            setScreen({ kind: "chat", conv });
          }}
        />
      );
      break;
    case "request":
      content =
        openedRequest === undefined ? (
          // Accepted elsewhere (another tab, or "New chat" with them): it is a conversation now.
          view.conversations.some((c) => c.id === screen.conv) ? (
            <p className="page">This request was accepted: open it from your conversations.</p>
          ) : (
            <p className="page">This request is no longer pending.</p>
          )
        ) : openedRequest.conversation === undefined ? (
          <p className="page">Loading the request…</p>
        ) : (
          <ChatView
            conv={openedRequest.conversation}
            request={openedRequest.info}
            onBack={() => {
              setScreen({ kind: "requests" });
            }}
            onMembers={() => undefined}
            onVerify={verify}
            onAccepted={(conv) => {
              setScreen({ kind: "chat", conv });
            }}
          />
        );
      break;
    case "blocked":
      content = (
        <BlockedUsers
          onClose={() => {
            setScreen({ kind: "home" });
          }}
        />
      );
      break;
    case "devices":
      content = (
        <>
          <DevicesScreen
            onClose={() => {
              setScreen({ kind: "home" });
            }}
          />
          <div className="page">
            <RecoveryPanel />
          </div>
        </>
      );
      break;
    case "safety":
      content = (
        <SafetyNumberScreen
          account={screen.account}
          onClose={() => {
            setScreen(screen.back);
          }}
        />
      );
      break;
  }

  const inChat = screen.kind !== "home";
  return (
    <>
      <a href="#content" className="skip-link">
        Skip to content
      </a>
      <div className="shell" id="app-shell">
        <header className="topbar">
          <h1>Sotto</h1>
          <ConnectionBadge
            state={view.connection}
            secondary={view.secondaryTab}
            onRetry={() => {
              client.retryConnection();
            }}
          />
          {view.held > 0 && <span className="badge">{view.held} waiting for keys</span>}
          <span className="hint" data-testid="me">
            {view.me?.username}
          </span>
          <button
            type="button"
            className="primary"
            onClick={() => {
              setScreen({ kind: "new" });
            }}
          >
            New chat
          </button>
          <button
            type="button"
            onClick={() => {
              setScreen({ kind: "devices" });
            }}
          >
            Devices
          </button>
          <button
            type="button"
            onClick={() => {
              setScreen({ kind: "blocked" });
            }}
          >
            Blocked users
          </button>
          <ThemeToggle />
          <LogoutButton />
        </header>
        <div className={inChat ? "main has-chat" : "main"}>
          <aside className="sidebar">
            {view.requests.length > 0 && (
              <button
                type="button"
                className="conv-item requests-entry"
                data-testid="open-requests"
                aria-current={screen.kind === "requests" || screen.kind === "request"}
                aria-label={`Requests, ${view.requests.length} waiting`}
                onClick={() => {
                  setScreen({ kind: "requests" });
                }}
              >
                <strong>Requests</strong>
                <span>
                  <span className="count" data-testid="requests-count">
                    {view.requests.length}
                  </span>
                </span>
              </button>
            )}
            <ConversationList
              conversations={view.conversations}
              selected={selectedConv?.id}
              onSelect={(conv) => {
                setScreen({ kind: "chat", conv });
              }}
            />
          </aside>
          <main className="content" id="content" tabIndex={-1}>
            <ErrorText error={view.error} />
            {view.recovery.offer && <RecoveryOffer />}
            {content}
          </main>
        </div>
      </div>
      {alert !== undefined && <IdentityChangeWarning alert={alert} onReview={verify} />}
      {alert === undefined && view.recovery.recovered !== undefined && (
        <RecoveredDialog others={view.recovery.recovered} />
      )}
    </>
  );
}

function LogoutButton() {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button
        type="button"
        onClick={() => {
          setOpen(true);
        }}
      >
        Log out
      </button>
      {/* Outside the shell, which the dialog makes inert while it is open. */}
      {open &&
        createPortal(
          <LogoutDialog
            onCancel={() => {
              setOpen(false);
            }}
          />,
          document.body,
        )}
    </>
  );
}

/**
 * Logging out asks whether this account's data stays in this browser: kept, the next login here
 * needs no approval and the messages stay (sealed); removed, this browser forgets the keys, which
 * loses the account when no other device and no recovery key remain (said when that is so).
 */
function LogoutDialog({ onCancel }: { onCancel: () => void }) {
  const client = useSotto();
  const view = useSottoView();
  const [remove, setRemove] = useState(false);
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<{ otherDevices: number; recovery: boolean | undefined }>();
  useEffect(() => {
    let live = true;
    client.logoutAdvice().then(
      (a) => {
        if (live) setAdvice(a);
      },
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [client]);
  const who = view.me?.username ?? "this account";
  const lastDevice = advice?.otherDevices === 0;
  return (
    <Modal title="Log out">
      <fieldset className="logout-choice">
        <legend>Remove this account&apos;s data from this browser?</legend>
        <label>
          <input
            type="radio"
            name="logout-choice"
            checked={!remove}
            onChange={() => {
              setRemove(false);
            }}
          />{" "}
          Keep {who}&apos;s data on this browser
        </label>
        <p className="hint">
          You can log in here again later without approving this browser from another device. Your
          messages stay on this browser, encrypted at rest; other accounts here cannot open them.
          Choose this on your own computer.
        </p>
        <label>
          <input
            type="radio"
            name="logout-choice"
            checked={remove}
            onChange={() => {
              setRemove(true);
            }}
          />{" "}
          Remove {who}&apos;s data from this browser
        </label>
        <p className="hint">
          This browser forgets {who}&apos;s keys and messages; other accounts on it are not touched.
          Choose this on a shared or public computer. Logging in here again makes this browser a new
          device that needs approval.
        </p>
      </fieldset>
      {lastDevice && (
        <p className={remove ? "error" : "hint"} role={remove ? "alert" : undefined}>
          <strong>This is the only device of {who}</strong>
          {advice.recovery === true
            ? ": after removing its data, only your recovery key can restore the account."
            : advice.recovery === false
              ? " and no recovery key is set up: removing its data loses the account for good."
              : ": unless you have a recovery key, removing its data loses the account for good."}
        </p>
      )}
      <div className="actions">
        <button
          type="button"
          className={remove ? "danger" : "primary"}
          disabled={busy}
          onClick={() => {
            setBusy(true);
            void client.logout(remove).finally(() => {
              setBusy(false);
            });
          }}
        >
          Log out
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </Modal>
  );
}
