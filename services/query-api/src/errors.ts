/** An error the client caused or may see: status, machine code, message, and the offending field. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const badRequest = (field: string, message: string) =>
  new ApiError(400, 'bad_request', message, field);
export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
