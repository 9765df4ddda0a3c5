/**
 * "Send a file": the file's name and size, a preview of an image, a caption, and the limit
 * checked before anything is uploaded ("is 30 MB, the limit is 25 MB").
 */

import { useEffect, useId, useState } from "react";

import { useSotto, useSottoView } from "../../lib/sotto";
import { humanSize } from "./days";
import { Dialog } from "./Dialog";

const PREVIEW = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/** Why `size` bytes cannot be sent, in words, when the limit is `max`. */
export function overLimit(name: string, size: number, max: number): string | undefined {
  if (max <= 0 || size <= max) return undefined;
  return `“${name}” is ${humanSize(size)}, the limit is ${humanSize(max)}.`;
}

export function SendFileDialog({
  file,
  onSend,
  onCancel,
}: {
  file: File;
  onSend: (caption: string) => void;
  onCancel: () => void;
}) {
  const client = useSotto();
  const limits = useSottoView().limits;
  const [caption, setCaption] = useState("");
  const [preview, setPreview] = useState<string>();
  const id = useId();
  const problem =
    overLimit(file.name, file.size, limits.maxAttachmentBytes) ?? client.checkAttachment(file);

  useEffect(() => {
    if (!PREVIEW.includes(file.type)) return;
    const u = URL.createObjectURL(file);
    setPreview(u);
    return () => {
      URL.revokeObjectURL(u);
    };
  }, [file]);

  return (
    <Dialog title="Send a file" onClose={onCancel} testId="send-file">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (problem === undefined) onSend(caption.trim());
        }}
      >
        {preview !== undefined && (
          <img className="send-preview" src={preview} alt={`Preview of ${file.name}`} />
        )}
        <p>
          <strong dir="auto">{file.name}</strong> ({humanSize(file.size)})
        </p>
        {problem !== undefined && (
          <p role="alert" className="error" data-testid="send-file-error">
            {problem}
          </p>
        )}
        <label htmlFor={id}>Caption (optional)</label>
        <input
          id={id}
          dir="auto"
          // The dialog opens for the caption: the file is already chosen.
          autoFocus
          value={caption}
          disabled={problem !== undefined}
          onChange={(e) => {
            setCaption(e.target.value);
          }}
        />
        <div className="actions">
          <button type="submit" className="primary" disabled={problem !== undefined}>
            Send
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}
