/**
 * GF(2^16) as PAR 2.0 uses it (generator polynomial 0x1100B): the small
 * amounts of arithmetic done in JS (coefficients, the d×d matrix a repair
 * inverts). The bulk multiply-add over slices is native.gfMultiplyAdd.
 */
const order = 65535;
const exp = new Uint16Array(order * 2);
const log = new Uint16Array(order + 1);
{
  let x = 1;
  for (let i = 0; i < order; i++) {
    exp[i] = exp[i + order] = x;
    log[x] = i;
    x <<= 1;
    if (x & 0x10000) x ^= 0x1100b;
  }
}

export function gfMultiply(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : exp[log[a]! + log[b]!]!;
}

function gfInverse(a: number): number {
  return exp[(order - log[a]!) % order]!;
}

/** PAR2 can have at most this many input slices: the exponents coprime to 65535 = 3·5·17·257. */
export const maxInputSlices = 32768;

/**
 * The logarithms of the input slices' constants, in slice order: the n with
 * gcd(n, 65535) = 1, from 1 up (par2cmdline's reedsolomon.cpp), so slice i's
 * constant is 2^n.
 */
export function constantLogs(count: number): Uint16Array {
  const logs = new Uint16Array(count);
  for (let n = 1, i = 0; i < count; n++) if (n % 3 !== 0 && n % 5 !== 0 && n % 17 !== 0 && n % 257 !== 0) logs[i++] = n;
  return logs;
}

/** (2^n)^exponent: an input slice's coefficient in the recovery slice of that exponent. */
export function coefficient(constantLog: number, exponent: number): number {
  return exp[(constantLog * exponent) % order]!;
}

/** The inverse of an n×n matrix (row-major), or undefined when it is singular; Gauss-Jordan elimination. */
export function invertMatrix(matrix: Uint16Array, n: number): Uint16Array | undefined {
  const a = Uint16Array.from(matrix);
  const inv = new Uint16Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    while (pivot < n && a[pivot * n + col] === 0) pivot++;
    if (pivot === n) return undefined;
    if (pivot !== col) for (const m of [a, inv]) for (let k = 0; k < n; k++) [m[col * n + k], m[pivot * n + k]] = [m[pivot * n + k]!, m[col * n + k]!];
    const scale = gfInverse(a[col * n + col]!);
    for (let k = 0; k < n; k++) {
      a[col * n + k] = gfMultiply(a[col * n + k]!, scale);
      inv[col * n + k] = gfMultiply(inv[col * n + k]!, scale);
    }
    for (let row = 0; row < n; row++) {
      const factor = row === col ? 0 : a[row * n + col]!;
      if (factor === 0) continue;
      for (let k = 0; k < n; k++) {
        a[row * n + k]! ^= gfMultiply(factor, a[col * n + k]!);
        inv[row * n + k]! ^= gfMultiply(factor, inv[col * n + k]!);
      }
    }
  }
  return inv;
}
