/** Codes of the errors drafts and their approval answer with; the OpenAPI document lists them. */
export const APPROVAL_ERROR_CODES = [
  'DRAFT_NOT_FOUND',
  'DRAFT_NOT_PENDING',
  'DRAFT_EXPIRED',
  'APPROVAL_NOT_NEEDED',
  'SELF_APPROVAL',
  'APPROVER_NOT_A_PERSON',
  'DRAFTER_NOT_A_PERSON',
  'NOT_THE_DRAFTER',
] as const;
export type ApprovalErrorCode = (typeof APPROVAL_ERROR_CODES)[number];
