/**
 * What the server accepts (`GET /v1/policy`, protocol §11), checked before anything is sealed
 * or uploaded, and said in words a person reads ("larger than 25 MB", not a byte count).
 */

import type { Limits } from "./model";

/** Until the server's policy is known: its documented defaults (25 MiB, 64 KiB). */
export const DEFAULT_LIMITS: Limits = {
  maxAttachmentBytes: 25 * 1024 * 1024,
  maxBodyBytes: 65_536,
};

/** The limits a policy answer gives; what it leaves out keeps the default. */
export function policyLimits(policy: {
  readonly default_retention_secs?: number;
  readonly max_attachment_bytes?: number | undefined;
  readonly max_body_bytes?: number | undefined;
}): Limits {
  return {
    maxAttachmentBytes: policy.max_attachment_bytes ?? DEFAULT_LIMITS.maxAttachmentBytes,
    maxBodyBytes: policy.max_body_bytes ?? DEFAULT_LIMITS.maxBodyBytes,
  };
}

/** A size in the units people use for files: "25 MB", "1.5 GB", "900 KB" (powers of 1024). */
export function formatSize(bytes: number): string {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = Number.isInteger(value) ? value.toString() : value.toFixed(1).replace(/\.0$/, "");
  return `${shown} ${units[unit] ?? "bytes"}`;
}

/** Why a file of `size` bytes cannot be sent, or `undefined` when it can. */
export function attachmentProblem(size: number, limits: Limits): string | undefined {
  if (size > limits.maxAttachmentBytes)
    return `larger than ${formatSize(limits.maxAttachmentBytes)}`;
  return undefined;
}
