/**
 * The document title: "(3) alice — Sotto" — the unread count first (what a tab strip shows when
 * it is narrow), then the open conversation's name. No message text ever goes there: the title is
 * visible in the task bar and to every extension with the tabs permission.
 */

import { useEffect } from "react";

export function titleFor(unread: number, convName: string | undefined): string {
  const count = unread > 0 ? `(${unread}) ` : "";
  return convName === undefined ? `${count}Sotto` : `${count}${convName} — Sotto`;
}

export function useDocumentTitle(unread: number, convName: string | undefined): void {
  useEffect(() => {
    document.title = titleFor(unread, convName);
  }, [unread, convName]);
}
