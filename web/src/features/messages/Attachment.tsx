/**
 * An attachment in the timeline: an image as a thumbnail that opens in a lightbox, a PDF opened
 * inline in a dialog, anything else saved with one click; the caption under it. Everything is
 * decrypted locally into a `blob:` URL (hash and commitment checked by the engine first).
 *
 * A PDF is framed only as a blob this file types `application/pdf` itself, whatever the sender
 * declared: a framed blob runs with this page's origin, so it must never be HTML.
 */

import { type ReactNode, useEffect, useRef, useState } from "react";
import { createPortal } from "react-dom";

import { PaperclipIcon } from "../../components/ui/icons";
import { useSotto } from "../../lib/sotto";
import type { AttachmentInfo } from "../../lib/engine/model";
import { humanSize } from "./days";
import { Dialog } from "./Dialog";

const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

export function isPdf(a: { mediaType: string; fileName: string }): boolean {
  return a.mediaType === "application/pdf" || a.fileName.toLowerCase().endsWith(".pdf");
}

export function AttachmentView({
  attachment,
  caption,
}: {
  attachment: AttachmentInfo;
  caption?: ReactNode;
}) {
  const client = useSotto();
  const [blob, setBlob] = useState<Blob>();
  const [url, setUrl] = useState<string>();
  const [error, setError] = useState<string>();
  const [viewing, setViewing] = useState(false);
  const saveLink = useRef<HTMLAnchorElement>(null);
  const wantSave = useRef(false);
  const image = IMAGE_TYPES.includes(attachment.mediaType);
  const pdf = isPdf(attachment);

  const load = async (): Promise<void> => {
    if (blob !== undefined) return;
    try {
      const b = await client.download(
        attachment.blobId,
        attachment.secret,
        attachment.blobSha256,
        attachment.mediaType,
      );
      const typed = pdf ? new Blob([b], { type: "application/pdf" }) : b;
      setBlob(typed);
      setUrl(URL.createObjectURL(typed));
    } catch {
      setError("The file could not be verified.");
    }
  };

  useEffect(() => {
    if (image) void load();
  }, []);
  useEffect(
    () => () => {
      if (url !== undefined) URL.revokeObjectURL(url);
    },
    [url],
  );
  // A save asked for before the file was here happens as soon as it is (one click).
  useEffect(() => {
    if (url !== undefined && wantSave.current) {
      wantSave.current = false;
      saveLink.current?.click();
    }
  }, [url]);

  const name = attachment.fileName;
  return (
    <span className="attachment" data-testid="attachment">
      {image && url !== undefined && (
        <button
          type="button"
          className="thumb"
          aria-label={`Open image ${name}`}
          data-testid="attachment-image"
          onClick={() => {
            setViewing(true);
          }}
        >
          <img src={url} alt={`Preview of ${name}`} />
        </button>
      )}
      <span className="file">
        <PaperclipIcon /> <span dir="auto">{name}</span> ({humanSize(attachment.size)}){" "}
      </span>
      {pdf && (
        <button
          type="button"
          className="link"
          data-testid="attachment-open"
          onClick={() => {
            void load().then(() => {
              setViewing(true);
            });
          }}
        >
          Open
        </button>
      )}{" "}
      {url !== undefined ? (
        <a ref={saveLink} href={url} download={name}>
          Download
        </a>
      ) : (
        <button
          type="button"
          className="link"
          onClick={() => {
            wantSave.current = true;
            void load();
          }}
        >
          Download
        </button>
      )}
      {error !== undefined && <span className="error"> {error}</span>}
      {caption !== undefined && (
        <span className="caption" data-testid="attachment-caption" dir="auto">
          {caption}
        </span>
      )}
      {viewing &&
        url !== undefined &&
        createPortal(
          <Dialog
            title={name}
            onClose={() => {
              setViewing(false);
            }}
            className={pdf ? "viewer pdf" : "viewer"}
            testId={pdf ? "pdf-viewer" : "lightbox"}
          >
            {pdf ? (
              <PdfFrame url={url} name={name} />
            ) : (
              <img src={url} alt={name} className="full" />
            )}
            <div className="actions">
              <a href={url} download={name}>
                Download
              </a>
            </div>
          </Dialog>,
          document.body,
        )}
    </span>
  );
}

/**
 * A PDF in a frame of its `blob:` URL. A server whose CSP does not allow framing blobs
 * (`frame-src blob:`) blocks it: then the dialog says so instead of showing a broken frame.
 */
function PdfFrame({ url, name }: { url: string; name: string }) {
  const [blocked, setBlocked] = useState(false);
  useEffect(() => {
    const on = (e: SecurityPolicyViolationEvent) => {
      if (e.blockedURI.startsWith("blob")) setBlocked(true);
    };
    document.addEventListener("securitypolicyviolation", on);
    return () => {
      document.removeEventListener("securitypolicyviolation", on);
    };
  }, []);
  if (blocked)
    return (
      <p role="alert" data-testid="pdf-blocked">
        This server does not let PDFs open inside the page. Download it to read it.
      </p>
    );
  return <iframe src={url} title={name} />;
}
