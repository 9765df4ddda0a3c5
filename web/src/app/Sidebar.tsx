/**
 * The side pane: tabs (WAI-ARIA tabs pattern: Left/Right/Home/End move and select, one tab
 * stop) over the conversation list — all chats, unread ones, and the requests when there are
 * any. The Requests tab also opens the requests screen, where they are answered.
 */

import { type KeyboardEvent, useRef, useState } from "react";

import { routeHash } from "../components/route";
import { ConversationList } from "../features/conversations/ConversationList";
import { requestSummary } from "../features/requests/RequestList";
import type { ConversationView, RequestEntry } from "../lib/engine/model";

type Tab = "chats" | "unread" | "requests";

export function Sidebar({
  conversations,
  requests,
  selected,
  me,
  onRequests,
  onRequestsRoute,
}: {
  conversations: readonly ConversationView[];
  requests: readonly RequestEntry[];
  selected: string | undefined;
  me: string | undefined;
  /** The Requests tab was chosen: show the requests screen. */
  onRequests: () => void;
  /** The requests screen is open (the Requests tab is then the selected one). */
  onRequestsRoute: boolean;
}) {
  const [chosen, setChosen] = useState<"chats" | "unread">("chats");
  const refs = useRef(new Map<Tab, HTMLButtonElement>());
  const showRequests = requests.length > 0 || onRequestsRoute;
  const tabs: Tab[] = showRequests ? ["chats", "unread", "requests"] : ["chats", "unread"];
  const current: Tab = onRequestsRoute ? "requests" : chosen;

  const select = (tab: Tab) => {
    if (tab === "requests") onRequests();
    else setChosen(tab);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLButtonElement>) => {
    const i = tabs.indexOf(current);
    let next: Tab | undefined;
    if (e.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
    else if (e.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
    else if (e.key === "Home") next = tabs[0];
    else if (e.key === "End") next = tabs.at(-1);
    if (next === undefined) return;
    e.preventDefault();
    select(next);
    refs.current.get(next)?.focus();
  };
  const unreadCount = conversations.filter((c) => c.unread > 0).length;
  const tab = (id: Tab, label: string, extra?: { testId?: string; count?: number }) => (
    <button
      type="button"
      role="tab"
      id={`tab-${id}`}
      aria-selected={current === id}
      aria-controls={current === id ? `panel-${id}` : undefined}
      tabIndex={current === id ? 0 : -1}
      data-testid={extra?.testId}
      ref={(el) => {
        if (el === null) refs.current.delete(id);
        else refs.current.set(id, el);
      }}
      onClick={() => {
        select(id);
      }}
      onKeyDown={onKeyDown}
    >
      {label}
      {extra?.count !== undefined && extra.count > 0 && (
        <>
          {" "}
          <span className="count" data-testid={id === "requests" ? "requests-count" : undefined}>
            {extra.count}
          </span>
        </>
      )}
    </button>
  );

  return (
    <nav aria-label="Conversations" className="sidebar-nav">
      <div className="tabs sidebar-tabs" role="tablist" aria-label="Show">
        {tab("chats", "Chats")}
        {tab("unread", "Unread", { count: unreadCount })}
        {showRequests &&
          tab("requests", "Requests", { testId: "open-requests", count: requests.length })}
      </div>
      <div role="tabpanel" id={`panel-${current}`} aria-labelledby={`tab-${current}`}>
        {current === "requests" ? (
          <ul className="conv-list">
            {requests.map((r) => (
              <li key={r.info.conversation}>
                <a
                  className="conv-item"
                  href={routeHash({ kind: "request", conv: r.info.conversation })}
                >
                  {requestSummary(r)}
                </a>
              </li>
            ))}
          </ul>
        ) : (
          <ConversationList
            conversations={
              current === "unread"
                ? conversations.filter((c) => c.unread > 0 || c.id === selected)
                : conversations
            }
            selected={selected}
            me={me}
            empty={current === "unread" ? "No unread messages." : undefined}
          />
        )}
      </div>
    </nav>
  );
}
