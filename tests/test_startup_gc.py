import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest

from nexla_mcp.cli import main
from nexla_mcp.server.testing import connect
from nexla_mcp.settings import Settings
from nexla_mcp.startup_gc import pause_collection, resume_collection


@pytest.fixture(autouse=True)
def collection_restored() -> Iterator[None]:
    # Freezing would keep this test session's objects out of every later collection.
    yield
    resume_collection()
    gc.unfreeze()
    gc.enable()


def test_a_paused_collector_runs_again_with_start_up_objects_frozen() -> None:
    pause_collection()
    assert not gc.isenabled()
    resume_collection()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_a_collector_the_host_disabled_stays_disabled() -> None:
    gc.disable()
    pause_collection()
    resume_collection()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_start_that_fails_on_its_settings_leaves_the_collector_running(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--sandbox", "--port", "0", "--transport", "http", "--host", "0.0.0.0"]) == 2
    assert gc.isenabled()


@pytest.mark.anyio
async def test_the_server_resumes_collection_once_its_lifespan_is_up() -> None:
    pause_collection()
    async with connect(Settings(sandbox=True)) as client:
        assert gc.isenabled()
        await client.list_tools()


def test_a_stdio_start_pauses_collection_until_the_server_is_ready() -> None:
    # Read in the process the CLI starts: paused while importing, running once serving.
    probe = (
        "import gc, sys\n"
        "import nexla_mcp.startup_gc as startup_gc\n"
        "import nexla_mcp.server.app as app\n"
        "seen = []\n"
        "real = startup_gc.resume_collection\n"
        "def resume():\n"
        "    seen.append(gc.isenabled())\n"
        "    real()\n"
        "    seen.append(gc.isenabled())\n"
        "app.resume_collection = resume\n"
        "from nexla_mcp.cli import main\n"
        "main(['--sandbox'])\n"
        "print(seen[:2], file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], input="", capture_output=True, text=True, timeout=60
    )
    assert "[False, True]" in done.stderr, done.stderr
