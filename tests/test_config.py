"""The configuration: layering, names, every choice and range checked before any work."""
import dataclasses
import glob
import os
import re

import pytest
import yaml

from vipriors import config as cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse(argv):
    return cfg.cli_overrides(cfg.build_parser("test").parse_args(argv))


def test_builtin_profile_applies_only_without_data():
    builtin = cfg.resolve(parse([]))
    assert builtin.data.root is None and builtin.model.arch == "resnest14d" and builtin.data.image_size == 64
    real = cfg.resolve(parse(["--data", "/imagenet"]))
    assert real.model.arch == "resnest200e" and real.data.image_size == 224 and real.optim.optimizer == "sgd"


def test_precedence_defaults_profile_recipe_cli():
    recipe = {"optim": {"epochs": 7, "lr": 0.5}, "augment": {"scale": [0.2, 1.0]}}
    config = cfg.resolve(parse(["--epochs", "9", "--ratio", "0.5,2"]), recipe=recipe)
    assert config.optim.epochs == 9 and config.optim.lr == 0.5
    assert config.augment.scale == (0.2, 1.0) and config.augment.ratio == (0.5, 2.0)
    assert config.data.image_size == 64  # from the built-in profile


def test_resume_uses_the_saved_config_and_flags_over_it(tmp_path):
    original = cfg.resolve(parse(["--arch", "resnet18", "--lr", "0.3"]))
    path = tmp_path / "config.yaml"
    cfg.save_yaml(original, str(path))
    resumed = cfg.resolve(parse(["--epochs", "20"]), saved=cfg.load_yaml(str(path)))
    assert resumed.model.arch == "resnet18" and resumed.optim.lr == 0.3 and resumed.optim.epochs == 20
    assert resumed.data == original.data
    assert cfg.resolve({}, saved=cfg.load_yaml(str(path))) == original


def test_every_field_is_named_as_its_flag():
    flags = []
    for section, f, _ in cfg.leaves():
        flag = cfg.flag_of(f)
        flags.append(flag)
        if (section, f.name) != ("data", "root"):  # the one exception, --data
            assert flag == "--" + f.name.replace("_", "-"), (section, f.name, flag)
    assert len(flags) == len(set(flags))
    parser_flags = {a.option_strings[0] for a in cfg.build_parser("t")._actions if a.option_strings}
    assert set(flags) <= parser_flags


@pytest.mark.parametrize("argv, message", [
    (["--amp", "bf61"], "--amp bf61: choose one of auto, bf16, fp16, off"),
    (["--compile", "yes"], "--compile yes: choose one of auto, on, off"),
    (["--optimizer", "lion"], "--optimizer lion: choose one of sgd, nesterov, adam, adamw"),
    (["--memory-format", "nhwc"], "--memory-format nhwc: choose one of auto, channels_last, contiguous"),
    (["--device", "tpu"], "--device tpu: choose one of auto, cpu, cuda"),
    (["--auto-augment", "fancy"], "--auto-augment fancy: choose one of none, autoaugment, randaugment, trivialaugment"),
    (["--aa-interp", "cubic"], "--aa-interp cubic: choose one of nearest, linear"),
    (["--aa-ops", "pil"], "--aa-ops pil: choose one of vipriors, dali"),
    (["--aa-policy", "v1"], "--aa-policy v1: choose one of original, v0"),
    (["--train-resize", "pil"], "--train-resize pil: choose one of auto, torch, dali"),
    (["--compile-mode", "fast"], "--compile-mode fast: choose one of default"),
    (["--epochs", "0"], "--epochs 0: must be >= 1"),
    (["--epochs", "-1"], "--epochs -1: must be >= 1"),
    (["--eval-every", "0"], "--eval-every 0: must be >= 1"),
    (["--log-every", "0"], "--log-every 0: must be >= 1"),
    (["--batch-size", "0"], "--batch-size 0: must be >= 1"),
    (["--image-size", "0"], "--image-size 0: must be >= 1"),
    (["--data-threads", "0"], "--data-threads 0: must be >= 1"),
    (["--data-pipelines", "0"], "--data-pipelines 0: must be >= 1"),
    (["--pipeline-batch", "-1"], "--pipeline-batch -1: must be >= 0"),
    (["--cutmix", "1.5"], "--cutmix 1.5: must be in [0, 1]"),
    (["--sia-prob", "-0.1"], "--sia-prob -0.1: must be in [0, 1]"),
    (["--hflip", "2"], "--hflip 2: must be in [0, 1]"),
    (["--label-smoothing", "1"], "--label-smoothing 1: must be in [0, 1)"),
    (["--ema-decay", "1"], "--ema-decay 1: must be in [0, 1)"),
    (["--momentum", "1.2"], "--momentum 1.2: must be in [0, 1)"),
    (["--weight-decay=-1e-4"], "--weight-decay -0.0001: must be >= 0"),
    (["--warmup-epochs", "-1"], "--warmup-epochs -1: must be >= 0"),
    (["--crop-pct", "0"], "--crop-pct 0: must be in (0, 1]"),
    (["--lr", "0"], "--lr 0: must be > 0"),
    (["--lr", "nan"], "--lr nan: must be > 0"),
    (["--std", "1,0,1"], "--std 1,0,1: must be > 0"),
    (["--scale", "0.5,0.2"], "--scale 0.5,0.2: the first value (low) must not exceed the second"),
    (["--scale", "0.1"], "--scale (recipe key augment.scale): expected 2 comma-separated values"),
    (["--epochs", "many"], "--epochs (recipe key optim.epochs): cannot read 'many' as a whole number"),
    (["--epochs", "2.5"], "cannot read '2.5' as a whole number"),
    (["--check-data", "maybe"], "cannot read 'maybe' as true or false"),
    (["--cutmix", "0.7", "--mixup", "0.5"], "must sum to <= 1"),
    (["--skip-bad-files", "--check-data", "false"], "--skip-bad-files true: needs the scan"),
    (["--mix-off-epochs", "5", "--epochs", "3"], "--mix-off-epochs 5: must not exceed --epochs 3"),
    (["--policy-min-size", "24", "--auto-augment", "none", "--progressive-min-size", "16"],
     "--policy-min-size 24: has nothing to switch (--auto-augment none); drop --policy-min-size"),
    (["--policy-min-size", "24", "--auto-augment", "autoaugment"],
     "--policy-min-size 24: holds --auto-augment back from the small epochs of progressive resizing; "
     "add --progressive-min-size"),
    (["--policy-min-size", "300", "--auto-augment", "autoaugment", "--progressive-min-size", "16", "--image-size", "32"],
     "--policy-min-size 300: larger than --image-size 32, so --auto-augment would never run; give a size up to 32"),
    (["--mix-min-size", "24", "--cutmix", "0", "--progressive-min-size", "16"],
     "--mix-min-size 24: has nothing to switch (no mixing mode is on)"),
    (["--mix-min-size", "24", "--cutmix", "0.5"], "--mix-min-size 24: holds mixing back from the small epochs"),
    (["--mix-min-size=-8"], "--mix-min-size -8: must be >= 0"),
    (["--online-smoothing", "0.5", "--cutmix", "0.5", "--ricap", "0.5"],
     "--online-smoothing 0.5: its targets are learnt from the unmixed batches"),
    (["--online-smoothing", "1"], "--online-smoothing 1: must be in [0, 1)"),
    (["--loss", "cosine"], "--loss cosine: compares the normalised outputs with the labels, so it needs a cosine head"),
    (["--loss", "hinge"], "--loss"),
    (["--xent-weight", "0.5"], "--xent-weight 0.5: weighs the cross-entropy beside the cosine loss; add --loss cosine"),
    (["--cosine-head=-1"], "--cosine-head -1: must be >= 0"),
    (["--name", "a/b"], "--name a/b: give a plain folder name"),
])
def test_bad_values_are_refused_naming_the_flag_and_what_is_allowed(argv, message):
    with pytest.raises(cfg.ConfigError, match=re.escape(message)):
        cfg.resolve(parse(argv))


def test_recipe_mistakes_name_the_key():
    with pytest.raises(cfg.ConfigError, match="unknown setting 'epoch' .did you mean epochs"):
        cfg.resolve({}, recipe={"optim": {"epoch": 3}})
    with pytest.raises(cfg.ConfigError, match="unknown setting 'optimiser'"):
        cfg.resolve({}, recipe={"optimiser": {"lr": 3}})
    with pytest.raises(cfg.ConfigError, match="config.optim: expected a mapping"):
        cfg.resolve({}, recipe={"optim": [1, 2]})
    with pytest.raises(cfg.ConfigError, match="optim.epochs.*cannot read"):
        cfg.resolve({}, recipe={"optim": {"epochs": [3]}})
    assert cfg.resolve(parse(["--lr", "none"])).optim.lr is None


def test_bad_recipe_files_are_refused_with_one_line(tmp_path):
    cases = {"missing.yaml": None, "broken.yaml": "optim: {epochs: [\n", "binary.yaml": b"\x89PNG\r\n\x1a\n\x00\xff",
             "list.yaml": "- a\n- b\n", "flat.yaml": "epochs: 3\n"}
    messages = {"missing.yaml": "No such file", "broken.yaml": "not valid YAML at line", "binary.yaml": "not",
                "list.yaml": "expected a mapping of sections", "flat.yaml": "expected a mapping of sections"}
    for name, content in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            path.write_text(content)
        with pytest.raises(cfg.ConfigError, match=f"--config {re.escape(str(path))}: .*{messages[name]}"):
            cfg.load_yaml(str(path))


def test_switches_and_yaml_on_off():
    config = cfg.resolve(parse(["--skip-bad-files", "--auto-augment", "randaugment"]))
    assert config.data.skip_bad_files is True and config.data.check_data is True
    assert config.augment.auto_augment == "randaugment"
    config = cfg.resolve({}, recipe={"runtime": {"compile": False, "amp": False}, "data": {"check_data": "off"}})
    assert config.runtime.compile == "off" and config.runtime.amp == "off" and config.data.check_data is False


def test_sections_are_frozen_and_replace_checks():
    config = cfg.resolve(parse([]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.optim.epochs = 3
    assert config.replace("optim", epochs=3).optim.epochs == 3
    with pytest.raises(cfg.ConfigError, match="--epochs 0"):
        config.replace("optim", epochs=0)


def test_every_recipe_resolves():
    """Every training config of recipes/ resolves; recipe.yaml and the members files are the
    recipe runner's (tests/test_recipe.py checks every member's stages)."""
    recipes = glob.glob(os.path.join(REPO, "recipes", "**", "*.yaml"), recursive=True)
    configs = [p for p in recipes if os.path.basename(p) != "recipe.yaml" and "members" not in yaml.safe_load(open(p))]
    assert len(configs) >= 8
    for path in configs:
        assert cfg.resolve({}, recipe=cfg.load_yaml(path)).optim.epochs > 0


def test_the_readme_names_only_real_flags_and_choices():
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    train_flags = {a.option_strings[0] for a in cfg.build_parser("t")._actions if a.option_strings}
    table = readme[readme.index("### Training options"):readme.index("### What a run leaves behind")]
    named = set(re.findall(r"`(--[a-z0-9-]+)", table))
    assert named and named <= train_flags, named - train_flags
    hints = {cfg.flag_of(f): h for _, f, h in cfg.leaves()}
    for flag, words in re.findall(r"`(--[a-z0-9-]+) ([a-z0-9_-]+(?:\\\|[a-z0-9_-]+)+)`", table):
        assert set(words.split("\\|")) == set(cfg._choices(hints[flag])), flag
