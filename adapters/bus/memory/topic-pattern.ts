/**
 * AMQP topic binding rules: words are separated by ".", `*` stands for exactly one word and
 * `#` for zero or more words.
 */
export function topicMatches(pattern: string, topic: string): boolean {
  return wordsMatch(pattern.split("."), 0, topic.split("."), 0);
}

function wordsMatch(pattern: string[], p: number, topic: string[], t: number): boolean {
  if (p === pattern.length) return t === topic.length;
  const word = pattern[p];
  if (word === "#") {
    for (let skipped = t; skipped <= topic.length; skipped += 1) {
      if (wordsMatch(pattern, p + 1, topic, skipped)) return true;
    }
    return false;
  }
  if (t === topic.length) return false;
  return (word === "*" || word === topic[t]) && wordsMatch(pattern, p + 1, topic, t + 1);
}
