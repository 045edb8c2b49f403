/** Words for messages, the same way everywhere. */

/** "1 blob", "2 blobs", "0 entries": a number with its noun in the right number. */
export function count(n: number, noun: string, plural = pluralOf(noun)): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

function pluralOf(noun: string): string {
  if (/(?:s|x|ch|sh)$/.test(noun)) return `${noun}es`;
  if (/[^aeiou]y$/.test(noun)) return `${noun.slice(0, -1)}ies`;
  return `${noun}s`;
}

/** Levenshtein distance (names are short). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The candidates a typo likely means: those fewest edits away (from any of
 * a candidate's spellings), within a third of its length but at least 2,
 * at most three.
 */
export function closest(word: string, candidates: Iterable<string>, spellings: (candidate: string) => string[] = (candidate) => [candidate]): string[] {
  const limit = Math.max(2, Math.floor(word.length / 3));
  return [...new Set(candidates)]
    .map((candidate) => ({ candidate, distance: Math.min(...spellings(candidate).map((spelling) => editDistance(word, spelling))) }))
    .filter(({ distance }) => distance <= limit)
    .sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate))
    .slice(0, 3)
    .map(({ candidate }) => candidate);
}
