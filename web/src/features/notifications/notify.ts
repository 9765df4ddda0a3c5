/**
 * What a notification says and whether one is shown, as pure functions (tested without a
 * browser): never for this account's own messages (the engine's `onIncoming` gives only others'),
 * only when the page is hidden or the message's conversation is not the one open, and the text
 * only when the user chose to show it.
 */

import type { ChatMessage } from "../../lib/engine/model";

/** Characters of a message a notification shows at most (the system truncates anyway). */
const BODY_CHARS = 140;

export function shouldNotify(opts: {
  hidden: boolean;
  openConv: string | undefined;
  conv: string;
}): boolean {
  return opts.hidden || opts.openConv !== opts.conv;
}

export interface NotificationText {
  readonly title: string;
  readonly body: string;
}

export function notificationText(
  message: ChatMessage,
  conv: { name: string; direct: boolean } | undefined,
  showContent: boolean,
): NotificationText {
  const from = message.fromUsername;
  const where = conv === undefined || conv.direct ? "" : ` in ${conv.name}`;
  const mention = message.mentionsMe;
  if (!showContent)
    return {
      title: "Sotto",
      body: mention ? `${from} mentioned you${where}` : `New message from ${from}${where}`,
    };
  let text: string;
  switch (message.content.type) {
    case "text":
      text = message.content.text;
      break;
    case "attachment":
      text =
        message.content.caption === ""
          ? `📎 ${message.content.attachment.fileName}`
          : `📎 ${message.content.caption}`;
      break;
    case "unverified":
    case "event":
    case "gap":
      text = "New message";
      break;
  }
  return {
    title: `${from}${where}`,
    body: text.length > BODY_CHARS ? `${text.slice(0, BODY_CHARS - 1)}…` : text,
  };
}
