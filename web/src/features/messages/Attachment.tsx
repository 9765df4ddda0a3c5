import { useEffect, useState } from "react";

import { PaperclipIcon } from "../../components/ui/icons";
import { useSotto } from "../../lib/sotto";
import type { AttachmentInfo } from "../../lib/engine/model";

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

const PREVIEW_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/** An attachment: image preview (decrypted locally into a blob: URL) and a download link. */
export function AttachmentView({ attachment }: { attachment: AttachmentInfo }) {
  const client = useSotto();
  const [url, setUrl] = useState<string>();
  const [error, setError] = useState<string>();
  const previewable = PREVIEW_TYPES.includes(attachment.mediaType);

  const load = async (): Promise<string | undefined> => {
    try {
      const blob = await client.download(
        attachment.blobId,
        attachment.secret,
        attachment.blobSha256,
        attachment.mediaType,
      );
      const u = URL.createObjectURL(blob);
      setUrl(u);
      return u;
    } catch {
      setError("The file could not be verified.");
      return undefined;
    }
  };

  useEffect(() => {
    if (previewable && url === undefined) void load();
  }, []);
  useEffect(
    () => () => {
      if (url !== undefined) URL.revokeObjectURL(url);
    },
    [url],
  );

  return (
    <span data-testid="attachment">
      {previewable && url !== undefined && (
        <img src={url} alt={`Preview of ${attachment.fileName}`} />
      )}
      <span>
        <PaperclipIcon /> {attachment.fileName} ({size(attachment.size)}){" "}
      </span>
      {url !== undefined ? (
        <a href={url} download={attachment.fileName}>
          Download
        </a>
      ) : (
        <button type="button" className="link" onClick={() => void load()}>
          Download
        </button>
      )}
      {error !== undefined && <span className="error"> {error}</span>}
    </span>
  );
}
