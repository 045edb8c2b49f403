/** What push and pull share: their connection options, and the client they open with them, whose retries are told as events. */
import type { TransferEvent } from '../oci/image-ends.js';
import { RegistryClient, type RegistryOptions } from './client.js';

export interface TransferOptions extends Omit<RegistryOptions, 'onRetry'> {
  /** Told each retry, as a move's other events. */
  onEvent?: (event: TransferEvent) => void;
}

export function connect(registry: string, options: TransferOptions): Promise<RegistryClient> {
  return RegistryClient.connect(registry, { ...options, onRetry: (message, attempt, of) => options.onEvent?.({ type: 'retry', message, attempt, of }) });
}
