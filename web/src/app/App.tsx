/**
 * The application shell: screens by simple state (no router). It reaches the engine through the
 * hooks of `lib/sotto` like every feature; `main.tsx` mounts the one `SottoProvider` around it.
 */

import { useEffect, useState } from "react";

import { ConnectionBadge, ErrorText } from "../components/ui";
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
  const client = useSotto();
  const [open, setOpen] = useState(false);
  const [wipe, setWipe] = useState(false);
  if (!open) {
    return (
      <button
        type="button"
        onClick={() => {
          setOpen(true);
        }}
      >
        Log out
      </button>
    );
  }
  return (
    <span role="group" aria-label="Log out">
      <label className="hint">
        <input
          type="checkbox"
          checked={wipe}
          onChange={(e) => {
            setWipe(e.target.checked);
          }}
        />{" "}
        Wipe local secrets (keys and history)
      </label>
      <button type="button" className="danger" onClick={() => void client.logout(wipe)}>
        Confirm log out
      </button>
      <button
        type="button"
        onClick={() => {
          setOpen(false);
        }}
      >
        Cancel
      </button>
    </span>
  );
}
