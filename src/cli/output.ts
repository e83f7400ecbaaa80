import { createRequire } from 'node:module';
import type cliProgressModule from 'cli-progress';
import type { GuardEvent } from '../events.ts';
import { redactText } from '../redact.ts';

/** A multi-line message under its first line, indented, so every line of it is read as part of it. */
export function hangingIndent(text: string, indent: string): string {
  return text.replace(/\n/g, `\n${indent}`);
}

export interface OutputStreams {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * Human output goes to stderr, one concise line per step, with a progress bar for long copies when
 * stderr is a terminal. With --json, stdout carries only the final report object. Whatever is
 * printed passes through `redactText`: a password in a URL (DATABASE_URL, a replica) quoted by a
 * message or a report is never shown.
 */
export class Output {
  private bar: cliProgressModule.SingleBar | null = null;
  private barTask: string | null = null;
  private ticker: NodeJS.Timeout | null = null;

  constructor(
    private readonly streams: OutputStreams,
    private readonly json: boolean,
  ) {}

  line(text: string): void {
    this.stopBar();
    this.streams.stderr.write(`${redactText(text)}\n`);
  }

  event(event: GuardEvent): void {
    switch (event.type) {
      case 'progress':
        this.progress(event.task, event.done, event.total);
        return;
      case 'working':
        this.working(event.label);
        return;
      case 'step':
        this.line(`migrate-guard: ${event.message}`);
        return;
      case 'warning':
        this.line(`migrate-guard: WARNING ${event.message}`);
        return;
      case 'lock-takeover':
        this.line(
          `migrate-guard: took over the lock left by pid ${event.holder.pid} (${event.holder.command}, since ${event.holder.since}), which is no longer running`,
        );
        return;
      case 'migration-start':
        return;
      case 'migration-done':
        this.line(`  ${event.direction === 'up' ? 'applied ' : 'reverted'} ${event.name} (${event.durationMs} ms)`);
        return;
      case 'migration-failed':
        this.line(`  FAILED   ${event.name}: ${hangingIndent(event.message, '           ')}`);
        return;
      case 'check':
        this.line(`  ${event.result.ok ? 'ok    ' : 'FAILED'}   check ${event.result.name}: ${event.result.detail}`);
        return;
      case 'hook':
        this.line(
          `  ${event.result.ok ? 'ok    ' : 'FAILED'}   hook ${event.result.hook}${event.result.ok ? '' : ` (exit ${event.result.exitCode})`}${event.result.output ? `: ${event.result.output.split('\n').slice(-3).join(' | ')}` : ''}`,
        );
        return;
    }
  }

  report(report: object, humanSummary: string | null): void {
    this.stopBar();
    if (this.json) this.streams.stdout.write(`${redactText(JSON.stringify(report, null, 2))}\n`);
    else if (humanSummary) this.streams.stderr.write(`${redactText(humanSummary)}\n`);
  }

  private progress(task: string, done: number, total: number): void {
    if (!this.streams.stderr.isTTY || total === 0) return;
    if (this.bar === null || this.barTask !== task) {
      this.stopBar();
      // Required on first use: a run without a terminal never pays for loading it.
      const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule;
      this.bar = new cliProgress.SingleBar(
        {
          format: `  ${task.padEnd(8)} [{bar}] {percentage}% | {value}/{total} pages | {eta_formatted}`,
          stream: this.streams.stderr as NodeJS.WriteStream,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, done);
      this.barTask = task;
      return;
    }
    this.bar.setTotal(total);
    this.bar.update(done);
  }

  /**
   * `  proving the backup (…)  12.3s`, rewritten in place four times a second until the next
   * event; on a terminal only (a log file gets the step lines, not a ticking clock).
   */
  private working(label: string): void {
    this.stopBar();
    if (!this.streams.stderr.isTTY) return;
    const started = performance.now();
    const draw = () => this.streams.stderr.write(`\r\x1b[2K  ${label}  ${((performance.now() - started) / 1000).toFixed(1)}s`);
    draw();
    this.ticker = setInterval(draw, 250);
    // A ticking clock must never keep the process alive.
    this.ticker.unref();
  }

  stopBar(): void {
    if (this.ticker) {
      clearInterval(this.ticker);
      this.ticker = null;
      this.streams.stderr.write('\r\x1b[2K');
    }
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
      this.barTask = null;
    }
  }
}
