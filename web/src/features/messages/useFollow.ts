/**
 * Where the timeline stands: it opens at the "New messages" marker (or the bottom), follows new
 * messages only while the reader is at the bottom (always after the reader's own), counts the
 * ones that came while scrolled up, and keeps the view in place when older messages load above.
 */

import { type RefObject, useEffect, useLayoutEffect, useRef, useState } from "react";

import type { ConversationView } from "../../lib/engine/model";

/** How close to the bottom (px) still counts as "at the bottom": new messages are followed. */
const BOTTOM_SLACK = 48;

/** How long after opening the engine's first-unread answer still places the marker (ms). */
const MARKER_SETTLE_MS = 2000;

export function useFollow(conv: ConversationView, list: RefObject<HTMLOListElement | null>) {
  const messages = conv.messages;
  const firstId = messages[0]?.id ?? "";
  const lastId = messages.at(-1)?.id ?? "";
  const [unseen, setUnseen] = useState(0);
  const [marker, setMarker] = useState<string | undefined>(conv.firstUnread);
  const atBottom = useRef(true);
  const openedAt = useRef(Date.now());
  /** The newest message when the view opened: once another arrives, the marker stays put. */
  const openedLast = useRef("");
  const seen = useRef({ first: "", last: "", height: 0 });

  useEffect(() => {
    openedAt.current = Date.now();
    openedLast.current = lastId;
    setMarker(conv.firstUnread);
    setUnseen(0);
  }, [conv.id]);
  // Opening marks the conversation read, and the engine sets the first unread message then (or
  // clears one left from an earlier visit); later changes (messages read while the view is open)
  // do not move the marker under the reader.
  useEffect(() => {
    if (Date.now() - openedAt.current < MARKER_SETTLE_MS && lastId === openedLast.current)
      setMarker(conv.firstUnread);
  }, [conv.firstUnread]);

  const scrollToBottom = () => {
    const el = list.current;
    if (el === null) return;
    el.scrollTop = el.scrollHeight;
    atBottom.current = true;
    setUnseen(0);
  };

  // Opening: to the "New messages" marker when there is one, else to the bottom.
  useLayoutEffect(() => {
    const el = list.current;
    if (el === null) return;
    seen.current = { first: firstId, last: lastId, height: el.scrollHeight };
    // Opened at a message (a search hit, a notification): the app scrolls to it; stay there.
    if (el.querySelector("[data-highlight]") !== null) {
      atBottom.current = false;
      return;
    }
    const mark = el.querySelector<HTMLElement>("[data-testid=new-messages-marker]");
    if (mark !== null) {
      mark.scrollIntoView({ block: "start" });
      atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < BOTTOM_SLACK;
    } else scrollToBottom();
    seen.current = { first: firstId, last: lastId, height: el.scrollHeight };
  }, [conv.id, marker]);

  // New messages: followed at the bottom (and always after sending), counted when scrolled up;
  // older ones loaded above keep what the reader sees in place.
  useLayoutEffect(() => {
    const el = list.current;
    if (el === null) return;
    const before = seen.current;
    if (before.last !== lastId) {
      const newest = messages.at(-1);
      if (atBottom.current || newest?.mine === true) scrollToBottom();
      else {
        const from = messages.findIndex((m) => m.id === before.last);
        const added = messages
          .slice(from + 1)
          .filter((m) => !m.mine && m.content.type !== "event").length;
        setUnseen((n) => n + added);
      }
    } else if (before.first !== firstId) {
      el.scrollTop += el.scrollHeight - before.height;
    }
    seen.current = { first: firstId, last: lastId, height: el.scrollHeight };
  }, [firstId, lastId]);

  return {
    marker,
    unseen,
    scrollToBottom,
    onScroll: () => {
      const el = list.current;
      if (el === null) return;
      atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < BOTTOM_SLACK;
      if (atBottom.current && unseen > 0) setUnseen(0);
    },
    // An image decoded after its row was laid out: stay at the bottom if the view was there.
    onLoad: () => {
      if (atBottom.current) scrollToBottom();
    },
  };
}
