import type { DryRunReport } from '../commands/dry-run.ts';
import { renderGithub } from './formats/github.ts';
import { renderJunit } from './formats/junit.ts';
import { renderMarkdown } from './formats/markdown.ts';
import { renderSarif } from './formats/sarif.ts';
import { formatPlan } from './formats/text.ts';

export type ReportFormat = 'text' | 'json' | 'markdown' | 'sarif' | 'junit' | 'github';

export const REPORT_FORMATS: readonly ReportFormat[] = ['text', 'json', 'markdown', 'sarif', 'junit', 'github'];

/** The dry run's report in one of the formats CI tools read. */
export function renderReport(report: DryRunReport, format: ReportFormat, version: string): string {
  switch (format) {
    case 'text':
      return `${formatPlan(report)}\n`;
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`;
    case 'markdown':
      return renderMarkdown(report);
    case 'sarif':
      return renderSarif(report, version);
    case 'junit':
      return renderJunit(report);
    case 'github':
      return renderGithub(report);
  }
}
