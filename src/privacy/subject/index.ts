/**
 * Data subject tooling (issue 7 point 5): export (GDPR art. 15, CCPA right to know), erasure (art. 17, CCPA right to
 * delete), retention (art. 5(1)(e)) and the record of processing (art. 30). docs/privacy.md is the overview.
 */
export { openPrivacyContext, type OpenedPrivacyContext, type PrivacyContext } from './context.ts';
export { EventsFile } from './events.ts';
export { exportSubject, EXPORT_FORMAT, OMITTED, NOT_HELD_HERE, type SubjectExport } from './export.ts';
export { eraseSubject, ErasureError, type ErasureOptions, type ErasureReport } from './erase.ts';
export { RetentionSweeper, runRetention, type RetentionResult, type RetentionTargets } from './retention.ts';
export { buildProcessingRecord, formatProcessingRecord, retentionByStore, REPORT_FORMAT, type ProcessingRecord, type StoreProcessing } from './report.ts';
export { piiOfDocument, routeReaches, categoriesOf, type OperationPii, type PiiField } from './xpii.ts';
export {
  checkSubjectId,
  concerns,
  erasureRef,
  kindOf,
  resolveSubject,
  subjectForms,
  subjectKey,
  SubjectError,
  SUBJECT_KINDS,
  MAX_SUBJECT_LENGTH,
  DamagedSubjectRecords,
  type DamagedRecord,
  type ResolvedSubject,
  type SubjectForms,
  type SubjectKind,
} from './subject.ts';
