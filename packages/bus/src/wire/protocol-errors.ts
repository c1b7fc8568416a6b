/**
 * Kafka protocol error codes (org.apache.kafka.common.protocol.Errors): name, description and
 * whether a retry can succeed. Descriptions follow the broker's own (kafkajs uses the same texts).
 */
const ERRORS: Record<number, [name: string, retriable: boolean, description: string]> = {
  [-1]: [
    'UNKNOWN_SERVER_ERROR',
    false,
    'The server experienced an unexpected error when processing the request',
  ],
  1: [
    'OFFSET_OUT_OF_RANGE',
    false,
    'The requested offset is not within the range of offsets maintained by the server',
  ],
  2: [
    'CORRUPT_MESSAGE',
    true,
    'This message has failed its CRC checksum, exceeds the valid size, or is otherwise corrupt',
  ],
  3: ['UNKNOWN_TOPIC_OR_PARTITION', true, 'This server does not host this topic-partition'],
  4: ['INVALID_FETCH_SIZE', false, 'The requested fetch size is invalid'],
  5: [
    'LEADER_NOT_AVAILABLE',
    true,
    'There is no leader for this topic-partition as we are in the middle of a leadership election',
  ],
  6: ['NOT_LEADER_OR_FOLLOWER', true, 'This server is not the leader for that topic-partition'],
  7: ['REQUEST_TIMED_OUT', true, 'The request timed out'],
  8: ['BROKER_NOT_AVAILABLE', false, 'The broker is not available'],
  9: ['REPLICA_NOT_AVAILABLE', true, 'The replica is not available for the requested topic-partition'],
  10: [
    'MESSAGE_TOO_LARGE',
    false,
    'The request included a message larger than the max message size the server will accept',
  ],
  11: ['STALE_CONTROLLER_EPOCH', false, 'The controller moved to another broker'],
  12: ['OFFSET_METADATA_TOO_LARGE', false, 'The metadata field of the offset request was too large'],
  13: ['NETWORK_EXCEPTION', true, 'The server disconnected before a response was received'],
  14: ['COORDINATOR_LOAD_IN_PROGRESS', true, 'The coordinator is loading and hence can not process requests'],
  15: ['COORDINATOR_NOT_AVAILABLE', true, 'The coordinator is not available'],
  16: ['NOT_COORDINATOR', true, 'This is not the correct coordinator'],
  17: ['INVALID_TOPIC_EXCEPTION', false, 'The request attempted to perform an operation on an invalid topic'],
  18: [
    'RECORD_LIST_TOO_LARGE',
    false,
    'The request included message batch larger than the configured segment size on the server',
  ],
  19: [
    'NOT_ENOUGH_REPLICAS',
    true,
    'Messages are rejected since there are fewer in-sync replicas than required',
  ],
  20: [
    'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
    true,
    'Messages are written to the log, but to fewer in-sync replicas than required',
  ],
  21: ['INVALID_REQUIRED_ACKS', false, 'Produce request specified an invalid value for required acks'],
  22: ['ILLEGAL_GENERATION', false, 'Specified group generation id is not valid'],
  23: [
    'INCONSISTENT_GROUP_PROTOCOL',
    false,
    "The group member's supported protocols are incompatible with those of existing members",
  ],
  24: ['INVALID_GROUP_ID', false, 'The configured groupId is invalid'],
  25: ['UNKNOWN_MEMBER_ID', false, 'The coordinator is not aware of this member'],
  26: ['INVALID_SESSION_TIMEOUT', false, 'The session timeout is not within the range allowed by the broker'],
  27: ['REBALANCE_IN_PROGRESS', false, 'The group is rebalancing, so a rejoin is needed'],
  28: ['INVALID_COMMIT_OFFSET_SIZE', false, 'The committing offset data size is not valid'],
  29: ['TOPIC_AUTHORIZATION_FAILED', false, 'Not authorized to access topics: [Topic authorization failed.]'],
  30: ['GROUP_AUTHORIZATION_FAILED', false, 'Not authorized to access group: Group authorization failed.'],
  31: ['CLUSTER_AUTHORIZATION_FAILED', false, 'Cluster authorization failed.'],
  32: ['INVALID_TIMESTAMP', false, 'The timestamp of the message is out of acceptable range'],
  33: ['UNSUPPORTED_SASL_MECHANISM', false, 'The broker does not support the requested SASL mechanism'],
  34: ['ILLEGAL_SASL_STATE', false, 'Request is not valid given the current SASL state'],
  35: ['UNSUPPORTED_VERSION', false, 'The version of API is not supported'],
  36: ['TOPIC_ALREADY_EXISTS', false, 'Topic with this name already exists'],
  37: ['INVALID_PARTITIONS', false, 'Number of partitions is invalid'],
  38: ['INVALID_REPLICATION_FACTOR', false, 'Replication-factor is invalid'],
  41: ['NOT_CONTROLLER', true, 'This is not the correct controller for this cluster'],
  42: [
    'INVALID_REQUEST',
    false,
    'This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker',
  ],
  43: [
    'UNSUPPORTED_FOR_MESSAGE_FORMAT',
    false,
    'The message format version on the broker does not support the request',
  ],
  45: ['OUT_OF_ORDER_SEQUENCE_NUMBER', false, 'The broker received an out of order sequence number'],
  46: ['DUPLICATE_SEQUENCE_NUMBER', false, 'The broker received a duplicate sequence number'],
  47: ['INVALID_PRODUCER_EPOCH', false, 'Producer attempted an operation with an old epoch'],
  49: [
    'INVALID_PRODUCER_ID_MAPPING',
    false,
    'The producer attempted to use a producer id which is not currently assigned to its transactional id',
  ],
  51: [
    'CONCURRENT_TRANSACTIONS',
    true,
    'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing',
  ],
  56: ['KAFKA_STORAGE_ERROR', true, 'Disk error when trying to access log file on the disk'],
  57: ['LOG_DIR_NOT_FOUND', false, 'The user-specified log directory is not found in the broker config'],
  58: ['SASL_AUTHENTICATION_FAILED', false, 'SASL Authentication failed'],
  59: [
    'UNKNOWN_PRODUCER_ID',
    false,
    'This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question',
  ],
  72: [
    'LISTENER_NOT_FOUND',
    true,
    'There is no listener on the leader broker that matches the listener on which metadata request was processed',
  ],
  74: ['FENCED_LEADER_EPOCH', true, 'The leader epoch in the request is older than the epoch on the broker'],
  75: ['UNKNOWN_LEADER_EPOCH', true, 'The leader epoch in the request is newer than the epoch on the broker'],
  76: [
    'UNSUPPORTED_COMPRESSION_TYPE',
    false,
    'The requesting client does not support the compression type of given partition',
  ],
  78: [
    'OFFSET_NOT_AVAILABLE',
    true,
    'The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing',
  ],
  79: [
    'MEMBER_ID_REQUIRED',
    false,
    'The group member needs to have a valid member id before actually entering a consumer group',
  ],
  80: ['PREFERRED_LEADER_NOT_AVAILABLE', true, 'The preferred leader was not available'],
  81: ['GROUP_MAX_SIZE_REACHED', false, 'The consumer group has reached its max size'],
  82: [
    'FENCED_INSTANCE_ID',
    false,
    'The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id',
  ],
  89: ['THROTTLING_QUOTA_EXCEEDED', true, 'The throttling quota has been exceeded'],
  90: [
    'PRODUCER_FENCED',
    false,
    'There is a newer producer with the same transactionalId which fences the current one',
  ],
  100: ['UNKNOWN_TOPIC_ID', true, 'This server does not host this topic ID'],
};

export const ErrorCode = {
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  ILLEGAL_GENERATION: 22,
  UNKNOWN_MEMBER_ID: 25,
  REBALANCE_IN_PROGRESS: 27,
  TOPIC_ALREADY_EXISTS: 36,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  DUPLICATE_SEQUENCE_NUMBER: 46,
  INVALID_PRODUCER_EPOCH: 47,
  UNKNOWN_PRODUCER_ID: 59,
  MEMBER_ID_REQUIRED: 79,
  FENCED_INSTANCE_ID: 82,
  PRODUCER_FENCED: 90,
} as const;

/** An error code a Kafka broker answered with, named (`UNKNOWN_TOPIC_OR_PARTITION`) and described. */
export class KafkaProtocolError extends Error {
  override name = 'KafkaProtocolError';
  readonly code: number;
  /** The broker's name for the code, e.g. NOT_LEADER_OR_FOLLOWER. */
  readonly type: string;
  readonly retriable: boolean;

  constructor(code: number, context?: string, brokerMessage?: string | null) {
    const known = ERRORS[code];
    const type = known?.[0] ?? `UNKNOWN_ERROR_CODE_${code}`;
    const description = known?.[2] ?? `Kafka error code ${code}`;
    const detail = brokerMessage ? ` (${brokerMessage})` : '';
    super(`${description} [${type}]${detail}${context ? `: ${context}` : ''}`);
    this.code = code;
    this.type = type;
    this.retriable = known?.[1] ?? false;
  }
}

export function errorName(code: number): string {
  return ERRORS[code]?.[0] ?? `UNKNOWN_ERROR_CODE_${code}`;
}

/** Errors after which the client's view of partition leaders is stale: refresh metadata. */
export function needsMetadataRefresh(code: number): boolean {
  return code === 3 || code === 5 || code === 6 || code === 74 || code === 75 || code === 100;
}

/** A response the client cannot parse (truncated frame, bad length, bad CRC...). */
export class MalformedResponseError extends Error {
  override name = 'MalformedResponseError';
}

/** Connection-level failures (refused, closed, timed out): retriable. */
export class KafkaConnectionError extends Error {
  override name = 'KafkaConnectionError';
  readonly retriable = true;
}

/** The broker cannot speak a protocol version this client needs. */
export class UnsupportedVersionError extends Error {
  override name = 'UnsupportedVersionError';
}
