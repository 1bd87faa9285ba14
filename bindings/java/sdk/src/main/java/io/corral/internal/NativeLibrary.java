package io.corral.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

/**
 * Loads the SDK's native library once per JVM: {@code libcorral_jni.so} (and
 * {@code libcorral_proto.so} beside it) unpacked from this jar into a private
 * temporary directory, or the file named by the system property
 * {@code corral.native.library} or the environment variable
 * {@code CORRAL_NATIVE_LIBRARY}. Then checks that the library is the one these
 * classes were built for. Every failure is an {@link UnsatisfiedLinkError}
 * saying what is missing or mismatched; nothing reaches the native code first.
 */
public final class NativeLibrary {
  /** The binding layer's contract these classes speak (corral/binding/drivers.h). */
  public static final int BINDING_VERSION = 1;

  private static final String PLATFORM = "linux-x86_64";
  private static Path unpacked;
  private static boolean loaded;

  private NativeLibrary() {}

  /** Corral's version, as this jar was built. */
  public static String version() {
    Properties p = new Properties();
    try (InputStream in = NativeLibrary.class.getResourceAsStream("/io/corral/version.properties")) {
      if (in != null) p.load(in);
    } catch (IOException e) {
      // no version: reported as unknown
    }
    return p.getProperty("version", "unknown");
  }

  /** Loads and checks libcorral_jni.so; safe to call from many threads. */
  public static synchronized void load() {
    if (loaded) return;
    String override = System.getProperty("corral.native.library");
    if (override == null || override.isEmpty()) override = System.getenv("CORRAL_NATIVE_LIBRARY");
    String path;
    if (override != null && !override.isEmpty()) {
      path = Paths.get(override).toAbsolutePath().toString();
      if (!Files.isRegularFile(Paths.get(path))) {
        throw new UnsatisfiedLinkError("corral.native.library / CORRAL_NATIVE_LIBRARY names " + path
            + ", which is not a file");
      }
    } else {
      path = unpack(NativeLibrary.class, "/io/corral/native/", List.of("libcorral_proto.so", "libcorral_jni.so"),
          List.of()).resolve("lib").resolve("libcorral_jni.so").toString();
    }
    loadFile(path);
    int binding;
    String corral;
    try {
      binding = CorralNative.bindingVersion();
      corral = CorralNative.corralVersion();
    } catch (UnsatisfiedLinkError e) {
      throw new UnsatisfiedLinkError(path + " is not Corral's Java SDK library (" + e.getMessage() + ")");
    }
    String expected = version();
    if (binding != BINDING_VERSION || !corral.equals(expected)) {
      throw new UnsatisfiedLinkError(path + " is Corral " + corral + " (binding " + binding
          + "), but these classes are Corral " + expected + " (binding " + BINDING_VERSION
          + "): use the library inside the corral-sdk jar of the same version");
    }
    loaded = true;
  }

  /** System.load with an error that says what to do. */
  public static void loadFile(String path) {
    try {
      System.load(path);
    } catch (UnsatisfiedLinkError e) {
      throw new UnsatisfiedLinkError("cannot load " + path + ": " + e.getMessage()
          + " (Corral's native libraries need the gRPC, protobuf and Abseil packages that scripts/dev.sh installs)");
    }
  }

  /**
   * Unpacks native files from {@code resourceDir + PLATFORM} of {@code anchor}'s jar into this
   * process's directory ({@code lib/} for libraries, {@code bin/} for programs, made executable)
   * and returns that directory. Shared by the SDK and its testing jar, so that their libraries
   * and programs find one another.
   */
  public static synchronized Path unpack(Class<?> anchor, String resourceDir, List<String> libs, List<String> bins) {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch", "");
    if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
      throw new UnsatisfiedLinkError("Corral's jars carry native code for " + PLATFORM + " only, not " + os + "/"
          + arch);
    }
    try {
      if (unpacked == null) {
        Path dir = Files.createTempDirectory("corral-native-");
        Files.createDirectories(dir.resolve("lib"));
        Files.createDirectories(dir.resolve("bin"));
        dir.toFile().deleteOnExit();
        dir.resolve("lib").toFile().deleteOnExit();
        dir.resolve("bin").toFile().deleteOnExit();
        unpacked = dir;
      }
      for (String lib : libs) copy(anchor, resourceDir + PLATFORM + "/" + lib, unpacked.resolve("lib").resolve(lib));
      for (String bin : bins) {
        Path to = unpacked.resolve("bin").resolve(bin);
        copy(anchor, resourceDir + PLATFORM + "/bin/" + bin, to);
        if (!to.toFile().setExecutable(true)) throw new IOException("cannot make " + to + " executable");
      }
      return unpacked;
    } catch (IOException e) {
      throw new UnsatisfiedLinkError("cannot unpack Corral's native files: " + e);
    }
  }

  private static void copy(Class<?> anchor, String resource, Path to) throws IOException {
    if (Files.exists(to)) return;
    try (InputStream in = anchor.getResourceAsStream(resource)) {
      if (in == null) {
        throw new UnsatisfiedLinkError(resource + " is missing from the jar of " + anchor.getName()
            + " (was it built with the native libraries? see docs/sdk-java.md)");
      }
      Files.copy(in, to, StandardCopyOption.REPLACE_EXISTING);
    }
    to.toFile().deleteOnExit();
  }
}
