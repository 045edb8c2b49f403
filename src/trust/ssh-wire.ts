/**
 * The SSH wire encoding (RFC 4251 §5: uint32, string, mpint) that OpenSSH
 * public keys, openssh-key-v1 private keys and SSHSIG signatures are made of.
 * A reader that runs past the end throws instead of reading garbage: these
 * bytes come from files a user was handed.
 */

export function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

export function sshUint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

/** An unsigned big-endian integer as an mpint: no leading zero bytes, one added when the top bit is set (it would read as negative). */
export function sshMpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length && unsigned[start] === 0) start++;
  const trimmed = unsigned.subarray(start);
  return sshString(trimmed.length > 0 && trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export class SshReader {
  private at = 0;

  constructor(private readonly data: Buffer, private readonly fail: (detail: string) => never) {}

  get done(): boolean {
    return this.at >= this.data.length;
  }

  uint32(): number {
    if (this.at + 4 > this.data.length) return this.fail('truncated (a length runs past the end)');
    const value = this.data.readUInt32BE(this.at);
    this.at += 4;
    return value;
  }

  bytes(length: number): Buffer {
    if (this.at + length > this.data.length) return this.fail('truncated (a field runs past the end)');
    const value = this.data.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }

  string(): Buffer {
    return this.bytes(this.uint32());
  }

  text(): string {
    return this.string().toString('utf8');
  }

  /** An mpint as an unsigned integer of exactly width bytes (the curve's), for P1363 signatures and JWK coordinates. */
  mpint(width: number): Buffer {
    const raw = this.string();
    let start = 0;
    while (start < raw.length - 1 && raw[start] === 0) start++;
    const value = raw.subarray(start);
    if (value.length > width) return this.fail(`an integer of ${value.length} bytes where at most ${width} fit`);
    return Buffer.concat([Buffer.alloc(width - value.length), value]);
  }

  rest(): Buffer {
    return this.bytes(this.data.length - this.at);
  }
}
