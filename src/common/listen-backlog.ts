/**
 * The accept-queue length asked of the kernel for the HTTP and MQTT listeners. Node's default
 * (511) overflowed when 10,000 devices connected or fetched a clip at once: the kernel dropped
 * the handshakes it could not queue, and each device's TCP stack retried with exponential waits,
 * so the last ones arrived minutes later while the server sat idle (`nstat` showed 190,000
 * TcpExtListenOverflows). The kernel caps this at `net.core.somaxconn` (4096 on current Linux);
 * docs/operations.md says how to raise it for larger fleets.
 */
export const LISTEN_BACKLOG = 65_535;
