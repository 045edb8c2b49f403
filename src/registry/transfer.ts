/** What push and pull share: their options, the events they report, and running blob copies side by side. */
import pLimit from 'p-limit';
import type { Descriptor, Digest } from '../oci/types.js';
import { RegistryClient, type RegistryOptions } from './client.js';

export type TransferEvent =
  /** A blob is settled: the registry or store already had it, it was mounted from another repository, or its bytes were copied. */
  | { type: 'blob'; digest: Digest; size: number; status: 'exists' | 'mounted' | 'pushed' | 'pulled'; from?: string }
  | { type: 'progress'; digest: Digest; size: number; done: number }
  /** An interrupted upload goes on at offset (0 and restarted: in a new upload). */
  | { type: 'resume'; digest: Digest; offset: number; restarted: boolean }
  /** Something odd the transfer went on past (a referrer not taken). */
  | { type: 'warning'; message: string }
  /** Something said that is no failure: a layer whose media type its bytes contradict, read as the bytes say (oci/layer-media.ts). */
  | { type: 'notice'; message: string }
  /** A failure that may pass (message: what failed, where, why); attempt `attempt` of `of` follows. */
  | { type: 'retry'; message: string; attempt: number; of: number };

/** A manifest or index with the exact bytes its digest covers. */
export interface Document {
  descriptor: Descriptor;
  bytes: Buffer;
}

export interface TransferOptions extends Omit<RegistryOptions, 'onRetry'> {
  /** Blobs copied at once (default 3, as docker). */
  concurrency?: number;
  onEvent?: (event: TransferEvent) => void;
}

export function connect(registry: string, options: TransferOptions): Promise<RegistryClient> {
  return RegistryClient.connect(registry, { ...options, onRetry: (message, attempt, of) => options.onEvent?.({ type: 'retry', message, attempt, of }) });
}

/** Runs fn for every item, `concurrency` at a time; after a failure no new one starts, and it rejects once the running ones have settled. */
export async function forEachLimited<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  const limit = pLimit(concurrency);
  let failing = false;
  const guarded = async (item: T): Promise<void> => {
    if (failing) return;
    try {
      await fn(item);
    } catch (err) {
      failing = true;
      throw err;
    }
  };
  const results = await Promise.allSettled(items.map((item) => limit(() => guarded(item))));
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
}
