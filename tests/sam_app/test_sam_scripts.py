"""sam-package.sh, sam-deploy.sh and sam-delete.sh, with a recording stand-in for the SAM CLI.

The scripts are copied into a temporary project folder, so what they find around them (or do
not: a .venv with sam in it) is under the test's control. The stand-in records each command line
as a JSON list, one per line, with the folder it ran in, and can be told to fail a subcommand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("sam-package.sh", "sam-deploy.sh", "sam-delete.sh")
# The only programs the scripts need besides sam: a PATH of just these keeps a sam installed on
# this machine out of the tests.
TOOLS = ("bash", "dirname", "basename", "cat", "mkdir")
RECORDER = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["SAM_RECORD"], "a") as record:
    record.write(json.dumps(sys.argv[1:]) + "\\n")
with open(os.environ["SAM_RECORD"] + ".cwd", "a") as record:
    record.write(os.getcwd() + "\\n")
sys.stdout.write(os.environ.get("SAM_STDOUT", ""))
sys.exit(int(os.environ.get("SAM_FAIL_" + sys.argv[1].upper(), "0")))
"""


class Project:
    """A copy of the scripts in a folder of its own, and a way to run them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "scripts").mkdir()
        for name in SCRIPTS:
            shutil.copy2(ROOT / name, root / name)
        shutil.copy2(ROOT / "scripts" / "sam-common.sh", root / "scripts" / "sam-common.sh")
        self.bin = root / "stand-in-bin"
        self.tools = root / "tools"
        self.tools.mkdir()
        for tool in TOOLS:
            found = shutil.which(tool)
            assert found is not None, f"{tool} is needed to run the scripts"
            (self.tools / tool).symlink_to(found)
        self.record = root / "sam-calls.jsonl"
        (root / "template.yaml").write_text("Transform: AWS::Serverless-2016-10-31\n")
        (root / "packaged.yaml").write_text("Resources: {}\n")

    def install_sam(self, where: Path, name: str = "sam") -> Path:
        where.mkdir(parents=True, exist_ok=True)
        path = where / name
        path.write_text(RECORDER)
        path.chmod(0o755)
        return path

    def run(
        self, script: str, *args: str, path: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PCLAB_", "SAM_"))}
        return subprocess.run(
            [str(self.root / script), *args],
            cwd=self.root,
            env={
                **base,
                "PATH": path or f"{self.bin}:{self.tools}",
                "SAM_RECORD": str(self.record),
                **env,
            },
            capture_output=True,
            text=True,
            timeout=30,
        )

    def package(self, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
        """sam-package.sh template.yaml out.yaml my-bucket, then the extra arguments."""
        return self.run("sam-package.sh", "template.yaml", "out.yaml", "my-bucket", *extra, **env)

    def calls(self) -> list[list[str]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def cwds(self) -> list[str]:
        """The folder each recorded call ran in."""
        return Path(f"{self.record}.cwd").read_text().splitlines()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path)
    project.install_sam(project.bin)
    return project


# --- the command lines ----------------------------------------------------------------------------


def test_package_builds_then_packages_the_built_template(project: Project) -> None:
    proc = project.package("--region", "eu-west-1")
    assert proc.returncode == 0, proc.stderr
    root = str(project.root.resolve())
    assert project.calls() == [
        [
            "build",
            "--template-file",
            f"{root}/template.yaml",
            "--build-dir",
            f"{root}/.aws-sam/build",
            # a repeated build reuses the dependencies while requirements.txt is unchanged
            "--cached",
            "--cache-dir",
            f"{root}/.aws-sam/cache",
        ],
        [
            "package",
            "--template-file",
            f"{root}/.aws-sam/build/template.yaml",
            "--s3-bucket",
            "my-bucket",
            "--output-template-file",
            "out.yaml",
            "--region",
            "eu-west-1",
        ],
    ]
    assert "./sam-deploy.sh STACK_NAME out.yaml" in proc.stdout
    # SAM's own layout: .aws-sam/deps, .aws-sam/cache and .aws-sam/build.toml of the project,
    # shared with a plain `sam build --cached` run there
    assert project.cwds() == [root, root]


def test_package_honours_the_build_folder_and_runtime_variables(project: Project) -> None:
    proc = project.package(
        PCLAB_BUILD_DIR="my build",
        PCLAB_PYTHON_RUNTIME="python3.12",
    )
    assert proc.returncode == 0, proc.stderr
    root = str(project.root.resolve())
    build, package = project.calls()
    assert build == [
        "build",
        "--template-file",
        f"{root}/template.yaml",
        "--build-dir",
        f"{root}/my build",
        "--cached",
        "--cache-dir",
        f"{root}/.aws-sam/cache",
        "--parameter-overrides",
        "PythonRuntime=python3.12",
    ]
    assert package[1:3] == ["--template-file", f"{root}/my build/template.yaml"]


def test_a_build_folder_elsewhere_keeps_its_own_cache_beside_it(project: Project) -> None:
    # Two builds into different folders must not share SAM's deps folder: SAM deletes the
    # dependencies of builds it does not know, and a build.toml paired with another deps folder
    # would reuse stale ones. So sam build runs from the build folder's parent.
    elsewhere = project.root.resolve() / "elsewhere"
    proc = project.package(PCLAB_BUILD_DIR=f"{elsewhere}/b")
    assert proc.returncode == 0, proc.stderr
    build, package = project.calls()
    assert build[3:] == [
        "--build-dir",
        f"{elsewhere}/b",
        "--cached",
        "--cache-dir",
        f"{elsewhere}/.aws-sam/cache",
    ]
    assert project.cwds() == [str(elsewhere), str(project.root.resolve())]
    assert package[1:3] == ["--template-file", f"{elsewhere}/b/template.yaml"]


def test_pclab_sam_build_cache_0_installs_the_dependencies_afresh(project: Project) -> None:
    proc = project.package(PCLAB_SAM_BUILD_CACHE="0")
    assert proc.returncode == 0, proc.stderr
    build, _ = project.calls()
    assert build[5:] == ["--no-cached"]


def test_a_pclab_sam_build_cache_other_than_0_or_1_is_refused(project: Project) -> None:
    proc = project.package(PCLAB_SAM_BUILD_CACHE="yes")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "sam-package.sh: PCLAB_SAM_BUILD_CACHE='yes' is not 0 or 1: 1 reuses the previous "
        "build's dependencies, 0 installs them afresh"
    )
    assert project.calls() == []


# A packaged template as sam package writes it: the Parameters block, then other top-level keys.
PACKAGED_WITH_PARAMETERS = """Parameters:
  ColdStartDelaySeconds:
    Type: String
  ProvisionedConcurrency:
    Type: String
Resources:
  Other:
    Type: AWS::SNS::Topic
"""


@pytest.mark.parametrize("packaged", ["Resources: {}\n", PACKAGED_WITH_PARAMETERS])
def test_deploy_passes_capabilities_and_extra_arguments_untouched(
    project: Project, packaged: str
) -> None:
    # Spaces, quotes and glob characters must arrive as the caller wrote them; declared
    # parameters pass the override check in either of SAM's two spellings.
    (project.root / "packaged.yaml").write_text(packaged)
    extra = [
        "--parameter-overrides",
        "ProvisionedConcurrency=1 ColdStartDelaySeconds=2",
        "ParameterKey=ColdStartDelaySeconds,ParameterValue=2",
        "--tags",
        "a='*'",
    ]
    proc = project.run("sam-deploy.sh", "pclab-test", "packaged.yaml", *extra)
    assert proc.returncode == 0, proc.stderr
    assert project.calls() == [
        [
            "deploy",
            "--template-file",
            "packaged.yaml",
            "--stack-name",
            "pclab-test",
            "--capabilities",
            "CAPABILITY_IAM",
            "CAPABILITY_NAMED_IAM",
            "--no-fail-on-empty-changeset",
            *extra,
        ]
    ]


@pytest.mark.parametrize(
    "overrides",
    [
        ["ColdStartDelaySecond=1"],
        ["ProvisionedConcurrency=1 ColdStartDelaySecond=1"],
        ["ProvisionedConcurrency=1", "ColdStartDelaySecond=1"],
        ["ParameterKey=ColdStartDelaySecond,ParameterValue=1"],
    ],
)
def test_a_misspelt_parameter_override_is_refused_before_sam_runs(
    project: Project, overrides: list[str]
) -> None:
    # SAM CLI drops an override the template does not declare without a word, so the stack
    # would get the default (a 5 s cold start, 150 provisioned units) instead.
    (project.root / "packaged.yaml").write_text(PACKAGED_WITH_PARAMETERS)
    proc = project.run(
        "sam-deploy.sh", "pclab-test", "packaged.yaml", "--parameter-overrides", *overrides
    )
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("sam-deploy.sh: unknown parameter 'ColdStartDelaySecond'"), line
    assert "ColdStartDelaySeconds ProvisionedConcurrency" in line
    assert project.calls() == []


def test_delete_runs_without_prompts(project: Project) -> None:
    proc = project.run("sam-delete.sh", "pclab-test", "--region", "us-west-2")
    assert proc.returncode == 0, proc.stderr
    assert project.calls() == [
        ["delete", "--stack-name", "pclab-test", "--no-prompts", "--region", "us-west-2"]
    ]


def test_deleting_a_stack_that_does_not_exist_is_an_error(project: Project) -> None:
    # sam delete says so on stdout and exits 0: a misspelt name would pass for a teardown
    said = "Error: The input stack pclab-tset does not exist on Cloudformation in the region x\n"
    proc = project.run("sam-delete.sh", "pclab-tset", SAM_STDOUT=said)
    assert proc.returncode == 1
    assert proc.stdout == said
    assert proc.stderr == (
        "sam-delete.sh: stack 'pclab-tset' does not exist, nothing was deleted: check the name "
        "(and --region) against the stack you deployed\n"
    )


def test_a_failed_delete_keeps_sams_exit_status(project: Project) -> None:
    proc = project.run("sam-delete.sh", "pclab-test", SAM_STDOUT="Deleted\n", SAM_FAIL_DELETE="3")
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "Deleted\n", "")


def test_a_failed_build_stops_before_packaging_with_sams_exit_status(project: Project) -> None:
    proc = project.package(SAM_FAIL_BUILD="3")
    assert proc.returncode == 3
    assert [call[0] for call in project.calls()] == ["build"]


# --- finding sam ----------------------------------------------------------------------------------


def test_without_sam_anywhere_the_scripts_say_how_to_install_it(project: Project) -> None:
    for script, args in [
        ("sam-package.sh", ["template.yaml", "out.yaml", "my-bucket"]),
        ("sam-deploy.sh", ["pclab-test", "packaged.yaml"]),
        ("sam-delete.sh", ["pclab-test"]),
    ]:
        proc = project.run(script, *args, path=str(project.tools))
        assert proc.returncode == 127
        assert proc.stderr.strip() == (
            f"{script}: the AWS SAM CLI (sam) is not installed: run 'pip install aws-sam-cli', "
            f"or 'make bootstrap' in {project.root} (these scripts then use its .venv/bin/sam)"
        )
    assert project.calls() == []


def test_the_projects_venv_sam_is_used_and_announced_when_sam_is_not_on_path(
    project: Project,
) -> None:
    venv_sam = project.install_sam(project.root / ".venv" / "bin")
    proc = project.run("sam-delete.sh", "pclab-test", path=str(project.tools))
    assert proc.returncode == 0, proc.stderr
    assert f"sam is not on PATH; using {venv_sam}" in proc.stderr
    assert project.calls() == [["delete", "--stack-name", "pclab-test", "--no-prompts"]]


def test_pclab_sam_chooses_the_cli_and_a_wrong_one_is_refused(project: Project) -> None:
    other = project.install_sam(project.root / "elsewhere", name="my-sam")
    proc = project.run("sam-delete.sh", "pclab-test", path=str(project.tools), PCLAB_SAM=str(other))
    assert proc.returncode == 0, proc.stderr
    assert len(project.calls()) == 1
    proc = project.run("sam-delete.sh", "pclab-test", PCLAB_SAM="/nope/sam")
    assert proc.returncode == 1
    assert "PCLAB_SAM=/nope/sam is not a command" in proc.stderr
    assert len(project.calls()) == 1


def test_a_relative_pclab_sam_still_runs_the_build_from_the_build_folders_parent(
    project: Project,
) -> None:
    project.install_sam(project.root / "elsewhere", name="my-sam")
    proc = project.package(
        PCLAB_SAM="elsewhere/my-sam",
        PCLAB_BUILD_DIR="out/build",
    )
    assert proc.returncode == 0, proc.stderr
    assert [call[0] for call in project.calls()] == ["build", "package"]
    assert project.cwds()[0] == str(project.root.resolve() / "out")


# --- bad arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("sam-package.sh", []),
        ("sam-package.sh", ["template.yaml", "out.yaml"]),
        ("sam-deploy.sh", []),
        ("sam-deploy.sh", ["pclab-test"]),
        ("sam-delete.sh", []),
    ],
)
def test_missing_arguments_print_the_usage_and_exit_2(
    project: Project, script: str, args: list[str]
) -> None:
    proc = project.run(script, *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"usage: {script} ")
    assert project.calls() == []


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_prints_the_usage_and_exits_0(project: Project, script: str) -> None:
    proc = project.run(script, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"usage: {script} ")
    assert project.calls() == []


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        (
            "sam-package.sh",
            ["template.yaml", "out.yaml", "my-bucket", "oops"],
            "unexpected argument 'oops': extra arguments are passed to sam and must start with",
        ),
        (
            "sam-deploy.sh",
            ["pclab-test", "packaged.yaml", "oops", "--region", "x"],
            "unexpected argument 'oops'",
        ),
        ("sam-delete.sh", ["pclab-test", "oops"], "unexpected argument 'oops'"),
        ("sam-package.sh", ["", "out.yaml", "my-bucket"], "TEMPLATE is empty"),
        ("sam-package.sh", ["template.yaml", "out.yaml", ""], "S3_BUCKET is empty"),
        ("sam-deploy.sh", ["", "packaged.yaml"], "STACK_NAME is empty"),
        (
            "sam-package.sh",
            ["missing.yaml", "out.yaml", "my-bucket"],
            "template 'missing.yaml' does not exist",
        ),
        (
            "sam-package.sh",
            ["template.yaml", "no/such/dir/out.yaml", "my-bucket"],
            "folder 'no/such/dir' for OUTPUT_TEMPLATE does not exist",
        ),
        (
            "sam-package.sh",
            ["template.yaml", "out.yaml", "My_Bucket"],
            "'My_Bucket' is not an S3 bucket name",
        ),
        (
            "sam-deploy.sh",
            ["pclab-test", "missing.yaml"],
            "packaged template 'missing.yaml' does not exist: write it first with ./sam-package.sh",
        ),
        ("sam-deploy.sh", ["1-stack", "packaged.yaml"], "'1-stack' is not a stack name"),
        ("sam-delete.sh", ["my_stack"], "'my_stack' is not a stack name"),
    ],
)
def test_bad_arguments_get_one_clear_line_and_exit_2(
    project: Project, script: str, args: list[str], message: str
) -> None:
    proc = project.run(script, *args)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"{script}: {message}")
    assert project.calls() == []
