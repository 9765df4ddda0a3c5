/**
 * Opening a conversation at a message (`#/c/<id>?m=<message id>`, from a search hit or a
 * notification): the message is scrolled into the middle of the view and marked
 * (`data-highlight`) until another one is asked for. Found by its `data-message-id`, so the chat
 * view needs no extra prop; it may still be loading after a reload, so a few tries are made.
 */

import { useEffect } from "react";

/** How long to look for a message that is not rendered yet (history still opening). */
const FIND_FOR_MS = 5000;
const RETRY_MS = 100;

export function useScrollToMessage(message: string | undefined): void {
  useEffect(() => {
    if (message === undefined) return;
    const started = Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let marked: HTMLElement | undefined;
    const find = () => {
      const el = document.querySelector<HTMLElement>(
        `#content [data-message-id="${CSS.escape(message)}"]`,
      );
      if (el === null) {
        if (Date.now() - started < FIND_FOR_MS) timer = setTimeout(find, RETRY_MS);
        return;
      }
      el.scrollIntoView({ block: "center" });
      el.setAttribute("data-highlight", "true");
      marked = el;
    };
    // After the chat view's own effects (it scrolls to the newest message when it opens).
    timer = setTimeout(find, 0);
    return () => {
      clearTimeout(timer);
      marked?.removeAttribute("data-highlight");
    };
  }, [message]);
}
