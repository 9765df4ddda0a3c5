/**
 * The document title: "(3) Sotto", the unread count first (what a narrow tab strip still shows).
 * No conversation name and no message text ever go there: the browser keeps each page's title in
 * its history, unencrypted on disk outside the sealed store, and the title is visible in the task
 * bar and to every extension with the tabs permission.
 */

import { useEffect } from "react";

export function titleFor(unread: number): string {
  return unread > 0 ? `(${unread}) Sotto` : "Sotto";
}

export function useDocumentTitle(unread: number): void {
  useEffect(() => {
    document.title = titleFor(unread);
  }, [unread]);
}
