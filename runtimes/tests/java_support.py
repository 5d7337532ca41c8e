"""Builds what the Java client tests run: the runtime jars (taken from $NIMBUS_JAVA_RUNTIME_DIR
when the build made them, else compiled here from runtimes/java) and the fixture handlers in
fixtures/java compiled against the API jar, with fixtures/java/libsrc packaged as
lib/greeter.jar of the task root."""

import glob
import os
import subprocess
import tempfile

from runtime_test_support import FIXTURES_DIR, RUNTIMES_DIR

JAVA = "/usr/bin/java"
JAVAC = "/usr/bin/javac"
JAR = "/usr/bin/jar"
JACKSON = ["/usr/share/java/jackson-databind.jar", "/usr/share/java/jackson-core.jar",
           "/usr/share/java/jackson-annotations.jar"]

_built = None


def _javac(out_dir, classpath, sources):
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run([JAVAC, "--release", "17", "-nowarn", "-d", out_dir, "-cp", ":".join(classpath)]
                   + sources, check=True)


def _jar(jar_path, classes_dir):
    os.makedirs(os.path.dirname(jar_path), exist_ok=True)
    subprocess.run([JAR, "--create", "--file", jar_path, "-C", classes_dir, "."], check=True)


def build():
    """Returns (argv prefix without the main class' arguments, task root). Cached per process."""
    global _built
    if _built is not None:
        return _built
    tmp = tempfile.mkdtemp(prefix="nimbus-java-test-")
    runtime_dir = os.environ.get("NIMBUS_JAVA_RUNTIME_DIR", "")
    api_jar = os.path.join(runtime_dir, "nimbus-lambda-java-core.jar")
    runtime_jar = os.path.join(runtime_dir, "nimbus-java-runtime.jar")
    if not (runtime_dir and os.path.exists(api_jar) and os.path.exists(runtime_jar)):
        src = os.path.join(RUNTIMES_DIR, "java")
        api_jar = os.path.join(tmp, "rt", "nimbus-lambda-java-core.jar")
        runtime_jar = os.path.join(tmp, "rt", "nimbus-java-runtime.jar")
        _javac(os.path.join(tmp, "api"), [],
               glob.glob(os.path.join(src, "api", "**", "*.java"), recursive=True))
        _jar(api_jar, os.path.join(tmp, "api"))
        _javac(os.path.join(tmp, "client"), [api_jar] + JACKSON,
               glob.glob(os.path.join(src, "client", "**", "*.java"), recursive=True))
        _jar(runtime_jar, os.path.join(tmp, "client"))
    fixtures = os.path.join(FIXTURES_DIR, "java")
    task = os.path.join(tmp, "task")
    _javac(os.path.join(tmp, "libclasses"), [],
           glob.glob(os.path.join(fixtures, "libsrc", "**", "*.java"), recursive=True))
    lib_jar = os.path.join(task, "lib", "greeter.jar")
    _jar(lib_jar, os.path.join(tmp, "libclasses"))
    _javac(task, [api_jar, lib_jar], glob.glob(os.path.join(fixtures, "example", "*.java")))
    argv = [JAVA, "-XX:MaxHeapSize=217907k", "-XX:MaxMetaspaceSize=32768k", "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-XX:-UsePerfData",
            "-Dfile.encoding=UTF-8", "-cp", ":".join([runtime_jar, api_jar] + JACKSON),
            "dev.nimbus.lambda.Bootstrap"]
    _built = (argv, task)
    return _built
