"""OpenSearch's distribution and plugins from Maven Central, assembled into a runnable node.

OpenSearch publishes its minimal distribution (``integ-test-zip``) and its plugins on Maven
Central: :func:`prepare` fetches them once with Maven (``mvn dependency:copy``) into a cache
outside the repository (:func:`cache_dir`) and assembles a node home: the distribution, the
``lang-painless`` module the k-NN plugin extends (built from its jars), and the k-NN,
job-scheduler and ML Commons plugins, plus the security plugin for the secured flavour.
Running the assembled node is :mod:`recsys.testing.opensearch`'s job.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from recsys.testing import as_root

VERSION = "2.19.1"
PLUGIN_VERSION = f"{VERSION}.0"
DISTRIBUTION = f"org.opensearch.distribution.integ-test-zip:opensearch:{VERSION}:zip"
#: Plugins in installation order (a plugin's parent first), by name.
PLUGINS = {name: f"org.opensearch.plugin:{artifact}:{PLUGIN_VERSION}:zip" for name, artifact in (
    ("opensearch-job-scheduler", "opensearch-job-scheduler"),
    ("opensearch-knn", "opensearch-knn"), ("opensearch-ml", "opensearch-ml-plugin"),
    ("opensearch-security", "opensearch-security"))}
#: lang-painless is a module of the full distribution, published as jars: the module is
#: assembled from them (the k-NN plugin extends it).
PAINLESS_JARS = [f"org.opensearch.plugin:lang-painless:{VERSION}:jar",
                 f"org.opensearch.plugin:opensearch-scripting-painless-spi:{VERSION}:jar",
                 "org.antlr:antlr4-runtime:4.13.1:jar", "org.ow2.asm:asm:9.7:jar",
                 "org.ow2.asm:asm-util:9.7:jar", "org.ow2.asm:asm-tree:9.7:jar",
                 "org.ow2.asm:asm-commons:9.7:jar", "org.ow2.asm:asm-analysis:9.7:jar"]
PAINLESS_DESCRIPTOR = f"""description=An easy, safe and fast scripting language for OpenSearch
version={VERSION}
name=lang-painless
classname=org.opensearch.painless.PainlessPlugin
java.version=11
opensearch.version={VERSION}
extended.plugins=
has.native.controller=false
"""
PAINLESS_POLICY = """grant {
  // needed to generate runtime classes
  permission java.lang.RuntimePermission "createClassLoader";
  // needed to find the classloader to load whitelisted classes from
  permission java.lang.RuntimePermission "getClassLoader";
};
"""


class OpenSearchUnavailable(RuntimeError):
    """The node could not be obtained or started; the message says why and what to do."""


def cache_dir() -> Path:
    """Where downloads and assembled nodes are kept: ``RECSYS_CACHE_DIR``, else
    ``/var/cache/recsys`` as root (readable by the node's user), else ``~/.cache/recsys``."""
    if os.environ.get("RECSYS_CACHE_DIR"):
        root = Path(os.environ["RECSYS_CACHE_DIR"])
    elif as_root():
        root = Path("/var/cache/recsys")
    else:
        root = Path.home() / ".cache" / "recsys"
    return root / "opensearch"


def java_home() -> str:
    """The JDK to run OpenSearch 2.x with (Java 17: ``OPENSEARCH_JAVA_HOME``, ``JAVA_HOME``, or
    the system's)."""
    for name in ("OPENSEARCH_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(name):
            return os.environ[name]
    java = shutil.which("java")
    if java is None:
        raise OpenSearchUnavailable("no Java found: install OpenJDK 17 or set JAVA_HOME")
    return str(Path(os.path.realpath(java)).parent.parent)



# -- obtaining and assembling --------------------------------------------------------------------


def fetch(artifact: str, into: Path) -> Path:
    """One Maven artifact (``group:name:version:packaging``) copied into ``into`` (once)."""
    group, name, version, packaging = artifact.split(":")
    target = into / f"{name}-{version}.{packaging}"
    if target.is_file():
        return target
    if shutil.which("mvn") is None:
        raise OpenSearchUnavailable("Maven (mvn) is needed to fetch OpenSearch from Maven "
                                    "Central: apt-get install maven")
    into.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={artifact}",
                           f"-DoutputDirectory={into}"], capture_output=True, text=True,
                          timeout=1800)
    if done.returncode != 0 or not target.is_file():
        reason = next((line for line in done.stdout.splitlines() if "ERROR" in line),
                      done.stderr.strip()[-300:] or "no output")
        raise OpenSearchUnavailable(f"could not fetch {artifact} from Maven Central "
                                    f"(offline?): {reason}")
    return target


def _assemble(home: Path, downloads: Path, plugins: list[str]) -> None:
    """Unpack the distribution into ``home``, add lang-painless, install ``plugins``."""
    with zipfile.ZipFile(fetch(DISTRIBUTION, downloads)) as archive:
        archive.extractall(home.parent)
    (home.parent / f"opensearch-{VERSION}").rename(home)
    for script in (home / "bin").iterdir():
        script.chmod(0o755)
    painless = home / "modules" / "lang-painless"
    painless.mkdir(parents=True)
    for jar in PAINLESS_JARS:
        shutil.copy2(fetch(jar, downloads / "painless"), painless)
    (painless / "plugin-descriptor.properties").write_text(PAINLESS_DESCRIPTOR)
    (painless / "plugin-security.policy").write_text(PAINLESS_POLICY)
    env = {**os.environ, "JAVA_HOME": java_home()}
    for name in plugins:
        zip_path = fetch(PLUGINS[name], downloads)
        done = subprocess.run([str(home / "bin" / "opensearch-plugin"), "install", "--batch",
                               zip_path.as_uri()], env=env, capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            raise OpenSearchUnavailable(f"installing {name} failed: {done.stderr[-500:]}")


def prepare(security: bool = False) -> Path:
    """The assembled node for this flavour (k-NN and ML Commons, plus security), built once
    in the cache and reused."""
    flavour = "secure" if security else "plain"
    home = cache_dir() / f"opensearch-{VERSION}-{flavour}"
    if (home / ".ready").is_file():
        return home
    plugins = ["opensearch-job-scheduler", "opensearch-knn", "opensearch-ml"]
    if security:
        plugins.append("opensearch-security")
    building = Path(tempfile.mkdtemp(prefix=f".{flavour}-", dir=_mkdir(cache_dir())))
    try:
        _assemble(building / "home", cache_dir() / "downloads", plugins)
        (building / "home" / ".ready").write_text(VERSION + "\n")
        shutil.rmtree(home, ignore_errors=True)
        (building / "home").rename(home)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    for folder in (cache_dir(), *cache_dir().parents[:1]):
        folder.chmod(0o755)
    return home


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- running -------------------------------------------------------------------------------------
