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
