// asl-validator 4 ships JavaScript without type declarations; this is the part the tests use.
declare module 'asl-validator' {
  interface ValidationResult {
    readonly isValid: boolean;
    readonly errors: unknown[];
    errorsText(separator?: string): string;
  }
  export default function validator(definition: unknown, options?: Record<string, unknown>): ValidationResult;
}
