/** A strict reader of the Prometheus text format, enough to check what `health --prometheus` writes. */
export interface ParsedMetric {
  help: string;
  type: string;
  samples: { labels: Record<string, string>; value: number }[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const match = LABEL.exec(text);
    if (!match) throw new Error(`bad labels in ${line}`);
    labels[match[1]!] = unescape(match[2]!);
  }
  return labels;
}

/** Every metric by name; throws on a line that is not HELP, TYPE or a sample of a declared metric. */
export function parsePrometheus(text: string): Map<string, ParsedMetric> {
  const metrics = new Map<string, ParsedMetric>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const metric = metrics.get(meta[2]!) ?? { help: '', type: '', samples: [] };
      if (meta[1] === 'HELP') metric.help = meta[3]!;
      else metric.type = meta[3]!;
      metrics.set(meta[2]!, metric);
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const metric = metrics.get(sample[1]!);
    if (!metric || !metric.type) throw new Error(`sample before its TYPE line: ${line}`);
    const value = Number(sample[3]);
    if (Number.isNaN(value) && sample[3] !== 'NaN') throw new Error(`bad value in ${line}`);
    metric.samples.push({ labels: sample[2] === undefined ? {} : parseLabels(sample[2], line), value });
  }
  return metrics;
}
