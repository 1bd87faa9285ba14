package io.corral;

/**
 * A call that did not succeed: the master (or agent) refused it, the driver
 * is not in a state to make it, or it could not be delivered. {@link #code()}
 * says which kind, {@link #getMessage()} the reason as the master gave it.
 * Unchecked, as calls from callbacks would otherwise all need a try block.
 */
public class CorralException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The kinds of failure (the gRPC / absl status codes). */
  public enum Code {
    OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
    RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
    DATA_LOSS, UNAUTHENTICATED;

    static Code of(int value) {
      Code[] all = values();
      return value >= 0 && value < all.length ? all[value] : UNKNOWN;
    }
  }

  private final Code code;

  public CorralException(Code code, String message) {
    super(message);
    this.code = code;
  }

  public CorralException(Code code, String message, Throwable cause) {
    super(message, cause);
    this.code = code;
  }

  public Code code() {
    return code;
  }
}
