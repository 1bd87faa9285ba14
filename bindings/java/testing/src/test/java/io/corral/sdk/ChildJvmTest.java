package io.corral.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.corral.testing.LocalCluster;
import io.corral.testing.LocalClusterExtension;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** What only a fresh JVM shows: loading from the jar, a mismatched library, exiting with drivers running. */
@ExtendWith(LocalClusterExtension.class)
@LocalClusterExtension.Agents(1)
class ChildJvmTest {
  record Run(int code, String output) {}

  static Run java(List<String> jvmArgs, String mainClass, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(System.getProperty("java.home") + "/bin/java"));
    cmd.addAll(jvmArgs);
    cmd.add(mainClass);
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().remove("LD_LIBRARY_PATH");
    pb.environment().remove("CORRAL_NATIVE_LIBRARY");
    Process p = pb.start();
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("the JVM did not exit: " + new String(out, StandardCharsets.UTF_8));
    }
    return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8));
  }

  /** The corral-sdk jar and protobuf-java: what a user's class path holds. */
  static String sdkClassPath() {
    List<String> keep = new ArrayList<>();
    for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (e.contains("corral-sdk") || e.contains("sdk" + File.separator + "target") || e.contains("protobuf-java")) {
        keep.add(e);
      }
    }
    return String.join(File.pathSeparator, keep);
  }

  @Test
  void theJarAloneLoadsWithoutLdLibraryPath() throws Exception {
    Run r = java(List.of("-cp", sdkClassPath()), "io.corral.Version");
    assertEquals(0, r.code(), r.output());
    assertTrue(r.output().contains("corral-sdk 0.1.0, native library 0.1.0"), r.output());
  }

  @Test
  void aLibraryThatIsNotTheSdksIsAClearErrorNotACrash() throws Exception {
    Path notOurs = Files.createTempFile("not-corral", ".so");
    Files.write(notOurs, "not a library".getBytes(StandardCharsets.UTF_8));
    try {
      Run r = java(List.of("-cp", sdkClassPath(), "-Dcorral.native.library=" + notOurs), "io.corral.Version");
      assertEquals(1, r.code(), r.output());
      assertTrue(r.output().contains("UnsatisfiedLinkError: cannot load " + notOurs), r.output());
      Run missing = java(List.of("-cp", sdkClassPath(), "-Dcorral.native.library=/nonexistent/libcorral_jni.so"),
          "io.corral.Version");
      assertTrue(missing.output().contains("/nonexistent/libcorral_jni.so, which is not a file"), missing.output());
    } finally {
      Files.delete(notOurs);
    }
  }

  /** Classes of another Corral version than the library's: both versions named, no crash. */
  @Test
  void aVersionMismatchNamesBothVersions() throws Exception {
    Path other = Files.createTempDirectory("other-version");
    Path props = other.resolve("io/corral/version.properties");
    Files.createDirectories(props.getParent());
    Files.write(props, "version=9.9.9\n".getBytes(StandardCharsets.UTF_8));
    try {
      Run r = java(List.of("-cp", other + File.pathSeparator + sdkClassPath()), "io.corral.Version");
      assertEquals(1, r.code(), r.output());
      assertTrue(r.output().contains("is Corral 0.1.0 (binding 1), but these classes are Corral 9.9.9 (binding 1)"),
          r.output());
    } finally {
      Files.delete(props);
      Files.delete(props.getParent());
      Files.delete(props.getParent().getParent());
      Files.delete(other);
    }
  }

  /** main returns while a subscribed driver still runs: the JVM exits, closing it on the way. */
  @Test
  void theJvmExitsWithADriverStillRunning(LocalCluster cluster) throws Exception {
    Run r = java(List.of("-cp", System.getProperty("java.class.path")), "io.corral.sdk.LeavesADriverRunning",
        cluster.master());
    assertEquals(0, r.code(), r.output());
    assertTrue(r.output().contains("subscribed; leaving"), r.output());
  }
}
