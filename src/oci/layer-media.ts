/**
 * The one layer media-type policy, for every path a layer travels (load and
 * copy from archives and layouts, pull, save, and the commands that read
 * stored layers): a layer is read by what its bytes are, as Docker and
 * containerd read it. Docker 20.10 pushes plain tars labelled gzip after a
 * `docker load` of uncompressed layers, so refusing such a layer on one path
 * and taking it on another would strand an image between two hosts. A label
 * the bytes contradict is said once, and the layer keeps its label and its
 * digest wherever it is kept as it is. A media type that is not a layer type
 * we know (an attestation's in-toto JSON, an artifact's blob) is not judged
 * here: such blobs travel as they are. Tar safety is not relaxed: the bytes,
 * once decompressed, must still be a safe tar wherever a layer is checked.
 */
import type { Compression } from '../compress/index.js';
import { layerCompression, type Descriptor } from './types.js';

export interface LayerReading {
  /** What to decompress the layer with: what its bytes are. */
  compression: Compression;
  /** Set when the layer's media type says another compression than its bytes have: said, never a failure. */
  warning?: string;
}

/**
 * How to read a layer whose bytes start as `detected` says. The warning
 * names the layer by its digest, which every medium shares (an archive's
 * member, a registry's blob, a stored one), so that a command that reads a
 * layer twice (copy: loaded, then saved) says it once, in one text.
 */
export function readLayerAs(layer: Descriptor, detected: Compression): LayerReading {
  const declared = layerCompression(layer.mediaType);
  if (declared === undefined || declared === detected) return { compression: detected };
  return { compression: detected, warning: `layer ${layer.digest}: media type ${layer.mediaType} says ${described(declared)} but the layer is ${described(detected)}; read as its bytes say` };
}

function described(compression: Compression): string {
  return compression === 'none' ? 'uncompressed' : compression;
}
