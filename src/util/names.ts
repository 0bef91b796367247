// "Did you mean" suggestions for mistyped names.

/** Edit distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The `count` names closest to `name`. */
export function closestNames(name: string, names: string[], count = 5): string[] {
  return names
    .map((n) => [n, editDistance(name, n)] as const)
    .sort((a, b) => a[1] - b[1])
    .slice(0, count)
    .map(([n]) => n);
}
