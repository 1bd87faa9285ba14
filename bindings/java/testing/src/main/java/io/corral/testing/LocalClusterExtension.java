package io.corral.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * Starts one {@link LocalCluster} per test class and hands it to any test (or constructor, or
 * lifecycle method) that takes a LocalCluster parameter:
 *
 * <pre>{@code
 * @ExtendWith(LocalClusterExtension.class)
 * @LocalClusterExtension.Agents(2)
 * class MyFrameworkTest {
 *   @Test void runs(LocalCluster cluster) { ... cluster.master() ... }
 * }
 * }</pre>
 */
public final class LocalClusterExtension implements BeforeAllCallback, AfterAllCallback, ParameterResolver {
  /** How many agents the class's cluster has (default 2). */
  @Retention(RetentionPolicy.RUNTIME)
  @Target(ElementType.TYPE)
  public @interface Agents {
    int value();
  }

  private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(LocalClusterExtension.class);

  @Override
  public void beforeAll(ExtensionContext context) {
    int agents = context.getRequiredTestClass().isAnnotationPresent(Agents.class)
        ? context.getRequiredTestClass().getAnnotation(Agents.class).value() : 2;
    context.getStore(NS).put("cluster", LocalCluster.builder().agents(agents).start());
  }

  @Override
  public void afterAll(ExtensionContext context) {
    LocalCluster c = context.getStore(NS).remove("cluster", LocalCluster.class);
    if (c != null) c.close();
  }

  @Override
  public boolean supportsParameter(ParameterContext p, ExtensionContext e) {
    return p.getParameter().getType() == LocalCluster.class;
  }

  @Override
  public Object resolveParameter(ParameterContext p, ExtensionContext e) {
    LocalCluster c = e.getStore(NS).get("cluster", LocalCluster.class);
    if (c == null) {
      for (ExtensionContext x = e; x != null && c == null; x = x.getParent().orElse(null)) {
        c = x.getStore(NS).get("cluster", LocalCluster.class);
      }
    }
    return c;
  }
}
