package io.corral.internal;

import io.corral.CorralException;

/** Turns the native layer's results into return or exception, freeing them. */
public final class Results {
  private Results() {}

  /** Throws the CorralException a failed result stands for. */
  public static void check(Result r) {
    int code = r.getCode();
    String message = r.getMessage();
    r.delete();
    if (code != 0) throw exception(code, message);
  }

  /** The code of a result (kStillRunning included), after which it is freed; failures go to {@code sink}. */
  public static int code(Result r, String[] message) {
    int code = r.getCode();
    message[0] = r.getMessage();
    r.delete();
    return code;
  }

  public static CorralException exception(int code, String message) {
    return new CorralException(codeOf(code), message);
  }

  private static CorralException.Code codeOf(int code) {
    CorralException.Code[] all = CorralException.Code.values();
    return code >= 0 && code < all.length ? all[code] : CorralException.Code.UNKNOWN;
  }
}
