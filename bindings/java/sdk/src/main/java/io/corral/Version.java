package io.corral;

import io.corral.internal.CorralNative;
import io.corral.internal.NativeLibrary;

/** The versions of these classes and of the native library they loaded. */
public final class Version {
  private Version() {}

  /** Corral's version of these classes. */
  public static String sdk() {
    return NativeLibrary.version();
  }

  /** Corral's version of the native library (loading it if need be). */
  public static String nativeLibrary() {
    NativeLibrary.load();
    return CorralNative.corralVersion();
  }

  /** {@code java -cp corral-sdk.jar:protobuf-java.jar io.corral.Version}: checks that the library loads. */
  public static void main(String[] args) {
    System.out.println("corral-sdk " + sdk() + ", native library " + nativeLibrary());
  }
}
