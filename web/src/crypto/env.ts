/**
 * What the protocol needs from the outside world, passed in rather than reached for: the time and
 * a source of randomness. The app uses {@link SystemRng} and the wall clock; tests and vectors use
 * {@link DangerSeededRng} and fixed times, so every output but RSA's own randomness is
 * reproducible.
 */

import { type Bytes, concatBytes } from "./bytes";
import { ProtocolError } from "./errors";
import { hmacSha256, systemRandom } from "./primitives";

/** A source of cryptographically secure random bytes. */
export interface Rng {
  /** `length` fresh random bytes. */
  random(length: number): Promise<Bytes>;
}

/** The platform's generator (`crypto.getRandomValues`). */
export class SystemRng implements Rng {
  random(length: number): Promise<Bytes> {
    return Promise.resolve(systemRandom(length));
  }
}

/** Time and randomness for one protocol operation. */
export interface Env {
  /** Milliseconds since the Unix epoch, as the caller's clock reads it. */
  readonly now: bigint;
  /** Where fresh ids, chain keys and attachment secrets come from. */
  readonly rng: Rng;
}

/** An environment on the wall clock and the system generator. */
export function systemEnv(): Env {
  return { now: BigInt(Date.now()), rng: new SystemRng() };
}

/**
 * A deterministic generator for tests and vectors only, byte for byte the Rust core's
 * `DangerSeededRng`: HMAC-SHA-256(seed, u64 counter) blocks, one block per 32 bytes requested
 * (a partial block's rest is discarded). Never use it for real keys.
 */
export class DangerSeededRng implements Rng {
  private counter = 0n;

  constructor(private readonly seed: Bytes) {
    if (seed.length !== 32) throw new ProtocolError("invalid-input", "seed must be 32 bytes");
  }

  async random(length: number): Promise<Bytes> {
    const blocks: Bytes[] = [];
    for (let produced = 0; produced < length; produced += 32) {
      const counter = new Uint8Array(8);
      new DataView(counter.buffer).setBigUint64(0, this.counter);
      this.counter += 1n;
      blocks.push(await hmacSha256(this.seed, counter));
    }
    return concatBytes(...blocks).slice(0, length);
  }
}
