/**
 * What a timeline row says, as plain functions of the view model: a message's current text, whether
 * it can be answered or amended, and a membership event as a sentence.
 */

import type { ChatMessage, TimelineEvent } from "../../lib/engine/model";
import { describeRetention } from "../../lib/engine/retention";

/** The text a message shows now (its caption for an attachment); "" when it has none. */
export function messageText(m: ChatMessage): string {
  if (m.deleted === true) return "";
  switch (m.content.type) {
    case "text":
      return m.content.text;
    case "attachment":
      return m.content.caption;
    case "gap":
    case "unverified":
    case "event":
      return "";
  }
}

/** Whether a message can be replied to, reacted to, edited (if mine) and deleted (if mine). */
export function isContent(m: ChatMessage): boolean {
  return (
    m.deleted !== true &&
    (m.content.type === "text" || m.content.type === "attachment") &&
    m.status !== "refused"
  );
}

/** A membership or settings change as one line. */
export function eventText(e: TimelineEvent): string {
  switch (e.kind) {
    case "created":
      return `${e.actor} created the group`;
    case "added":
      return `${e.actor} added ${e.subject}`;
    case "removed":
      return `${e.actor} removed ${e.subject}`;
    case "left":
      return `${e.actor} left`;
    case "renamed":
      return e.name === undefined
        ? `${e.actor} renamed the group`
        : `${e.actor} renamed the group to “${e.name}”`;
    case "admin-granted":
      return `${e.actor} made ${e.subject} an admin`;
    case "admin-revoked":
      return `${e.actor} removed ${e.subject} as an admin`;
    case "retention":
      return e.seconds === 0
        ? `${e.actor} set messages to be kept for good`
        : `${e.actor} set messages to be kept for ${describeRetention(e.seconds)}`;
  }
}
