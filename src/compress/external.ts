/**
 * A filter program (`xz -dc`, `bzip2 -dc`) as a Duplex: bytes in go to its
 * stdin, its stdout comes out, with backpressure both ways. A non-zero exit
 * fails the stream with the program's own complaint; a missing program says
 * which package to install.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { Duplex } from 'node:stream';
import type { Readable, Writable } from 'node:stream';
import { HostIoError, InvalidInputError } from '../errors.js';

const STDERR_LIMIT = 4096;

export class ExternalFilter extends Duplex {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderr = '';
  private exited = false;

  /**
   * @param label what the program handles, for messages ("xz")
   * @param where names the input in error messages
   * @param hint how to install the program when it is missing
   */
  constructor(command: string, args: string[], label: string, where: string, hint: string) {
    super();
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const { stdin, stdout, stderr } = this.child;
    stderr.setEncoding('utf8');
    stderr.on('data', (text: string) => {
      if (this.stderr.length < STDERR_LIMIT) this.stderr += text;
    });
    // The program may stop reading early (corrupt input); its exit status tells why.
    stdin.on('error', () => {});
    stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) stdout.pause();
    });
    this.child.on('error', (err: NodeJS.ErrnoException) => {
      this.exited = true;
      this.destroy(
        err.code === 'ENOENT'
          ? new HostIoError(`${where}: cannot decompress ${label} input: the ${command} program is not installed (${hint})`)
          : new HostIoError(`${where}: cannot run ${command}: ${err.message}`),
      );
    });
    // 'close' comes after stdout has ended, so every byte has been pushed by then.
    this.child.on('close', (code, signal) => {
      this.exited = true;
      if (code === 0) {
        this.push(null);
        return;
      }
      // The first line is the complaint (bzip2 follows it with a page of advice).
      const said = this.stderr.trim().split('\n')[0]!.replace(new RegExp(`^${command}: (\\(stdin\\): )?`), '').replace(/[;.]$/, '');
      this.destroy(new InvalidInputError(where, `corrupt ${label} stream: ${said || (signal ? `${command} killed by ${signal}` : `${command} exited ${code}`)}`));
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.child.stdin.write(chunk)) callback();
    else this.child.stdin.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin.end(() => callback());
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.exited) this.child.kill();
    callback(error);
  }
}
