import { ClusterError } from '../util/cluster-error';

/** A message that only members may send came from a node this one has not recorded as a member. */
export class NotMemberError extends ClusterError {
  override readonly name = 'NotMemberError';
  constructor(readonly nodeId: string) {
    super('KPC_NOT_MEMBER', `${nodeId} is not a member of this node's cluster`);
  }
}

/** A peer answered a request with a body that does not match the declared reply. */
export class MalformedReplyError extends ClusterError {
  override readonly name = 'MalformedReplyError';
  constructor(readonly peerId: string, readonly type: string) {
    super('KPC_MALFORMED_REPLY', `node ${peerId} sent a malformed reply to "${type}"`);
  }
}
