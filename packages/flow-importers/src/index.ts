export { detectFormat } from './detect.ts';
export { timestampToUs, protocolNumber } from './fields.ts';
export { FlowFileReader, type ReadFlowFileOptions, readFlowFile } from './reader.ts';
export {
  FileFormatError,
  IMPORT_FORMATS,
  type ImportFormat,
  type ImportRow,
  type ImportStats,
  RowError,
} from './types.ts';
export {
  type FileImportSummary,
  type FlowSink,
  formatSummary,
  type ImportFilesOptions,
  importFiles,
} from './import-files.ts';
