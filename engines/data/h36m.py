"""Human3.6M in VideoPose3D's npz format, for evaluation under the standard protocols.

The data is not shipped (its licence forbids it); bring ``data_3d_h36m.npz`` and
``data_2d_h36m_<detector>.npz`` as prepared by VideoPose3D's ``data/prepare_data_h36m.py``:

* ``data_3d_h36m.npz``: ``positions_3d[subject][action]`` (T, 32, 3) world metres, Z up.
* ``data_2d_h36m_<detector>.npz``: ``positions_2d[subject][action]`` a list of four (T, 17, 2)
  pixel arrays, one per camera, and ``metadata`` with ``num_joints`` and ``keypoints_symmetry``.

Both store dicts as pickled object arrays. Pickles can run code, so they are read with an
unpickler that only builds numpy arrays and plain containers (:func:`load_npz_dict`).
The camera parameters are Human3.6M's published calibration, as listed in VideoPose3D's
``common/h36m_dataset.py``. Split: train S1, S5, S6, S7, S8; test S9, S11.
"""
from __future__ import annotations

import pickle
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.data.camera import project, world_to_camera
from engines.skeleton import LEFT_JOINTS, NUM_JOINTS, RIGHT_JOINTS, normalize_screen

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
# The 32 mocap joints -> the 17 of every H36M paper (VideoPose3D's remove_joints list).
REMOVED_JOINTS = (4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31)
KEPT_JOINTS = tuple(j for j in range(32) if j not in REMOVED_JOINTS)

# Per camera: id, centre (px), focal length (px), radial k1-k3, tangential p1-p2, width, height.
CAMERA_INTRINSICS = (
    ("54138969", (512.54150390625, 515.4514770507812), (1145.0494384765625, 1143.7811279296875),
     (-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
     (-0.0009756988729350269, -0.00142447161488235), 1000, 1002),
    ("55011271", (508.8486328125, 508.0649108886719), (1149.6756591796875, 1147.5916748046875),
     (-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
     (-0.0016190266469493508, -0.0027408944442868233), 1000, 1000),
    ("58860488", (519.8158569335938, 501.40264892578125), (1149.1407470703125, 1148.7989501953125),
     (-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
     (0.0014843869721516967, -0.0007599993259645998), 1000, 1000),
    ("60457274", (514.9682006835938, 501.88201904296875), (1145.5113525390625, 1144.77392578125),
     (-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
     (-0.0005872055771760643, -0.0018133620033040643), 1000, 1002),
)
# Per subject and camera: orientation quaternion (w, x, y, z; camera to world), centre (mm).
CAMERA_EXTRINSICS = {
    "S1": (((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
            (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
           ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
            (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
           ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
            (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
           ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
            (-1794.7896728515625, -3722.698974609375, 1574.8927001953125))),
    "S5": (((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
            (2097.3916015625, 4880.94482421875, 1605.732421875)),
           ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
            (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
           ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
            (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
           ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
            (-1637.1737060546875, -3867.3173828125, 1547.033203125))),
    "S6": (((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
            (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
           ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
            (1969.803955078125, -5128.73876953125, 1632.77880859375)),
           ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
            (-1769.596435546875, 5185.361328125, 1476.993408203125)),
           ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
            (-1721.668701171875, -3884.13134765625, 1540.4879150390625))),
    "S7": (((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
            (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
           ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
            (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
           ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
            (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
           ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
            (-1734.7105712890625, -3832.42138671875, 1548.5830078125))),
    "S8": (((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
            (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
           ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
            (2219.965576171875, -5148.453125, 1613.0440673828125)),
           ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
            (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
           ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
            (-1476.913330078125, -3896.7412109375, 1547.97216796875))),
    "S9": (((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
            (2044.45849609375, 4935.1171875, 1481.2275390625)),
           ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
            (1990.959716796875, -5123.810546875, 1568.8048095703125)),
           ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
            (-1670.9921875, 5211.98583984375, 1528.387939453125)),
           ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
            (-1696.04345703125, -3827.099853515625, 1591.4127197265625))),
    "S11": (((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
             (2098.440185546875, 4926.5546875, 1500.278564453125)),
            ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
             (2083.182373046875, -4912.1728515625, 1561.07861328125)),
            ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
             (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
            ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
             (-1590.738037109375, -3854.1689453125, 1578.017578125))),
}


@dataclass(frozen=True)
class H36MCamera:
    id: str
    center: np.ndarray  # (2,) pixels
    focal: np.ndarray  # (2,) pixels
    radial: np.ndarray  # (3,)
    tangential: np.ndarray  # (2,)
    width: int
    height: int
    orientation: np.ndarray  # (4,) quaternion w, x, y, z, camera to world
    translation: np.ndarray  # (3,) camera centre, metres

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        """World points (..., 3) in metres -> this camera's coordinates."""
        return world_to_camera(world, self.orientation, self.translation)

    def project(self, camera_points: np.ndarray) -> np.ndarray:
        """Camera points (T, J, 3) -> pixels (T, J, 2), with the lens distortion."""
        return project(camera_points, self.focal, self.center, self.radial, self.tangential)

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        return normalize_screen(pixels, self.width, self.height)


def cameras(subject: str) -> list[H36MCamera]:
    """The four calibrated cameras of a subject (S1, S5-S9, S11)."""
    if subject not in CAMERA_EXTRINSICS:
        raise ValueError(f"no camera calibration for subject {subject!r}; known: {', '.join(CAMERA_EXTRINSICS)}")
    return [H36MCamera(cid, np.array(c), np.array(f), np.array(k), np.array(p), w, h,
                       np.array(q), np.array(t) / 1000.0)
            for (cid, c, f, k, p, w, h), (q, t) in zip(CAMERA_INTRINSICS, CAMERA_EXTRINSICS[subject])]


# --- safe reading of VideoPose3D's pickled npz dicts ----------------------------------------------

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Builds numpy arrays, dicts, lists and strings; refuses any other callable."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return super().find_class(module.replace("numpy._core", "numpy.core"), name)


def load_npz_dict(path: str | Path, key: str):
    """The object stored under ``key`` in an npz written with ``np.savez(path, key=obj)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Human3.6M file not found: {path}")
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
            if dtype != object:
                return np.frombuffer(f.read(), dtype=dtype).reshape(shape)
            array = _ArrayUnpickler(f).load()
    except KeyError:
        raise ValueError(f"{path}: no array {key!r} in the file") from None
    except (zipfile.BadZipFile, pickle.UnpicklingError, ValueError, EOFError) as e:
        raise ValueError(f"{path}: not a VideoPose3D npz ({e})") from None
    return array.item() if array.shape == () else array


def load_poses_3d(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """``data_3d_h36m.npz`` -> {subject: {action: (T, 17, 3) world metres}}."""
    data = load_npz_dict(path, "positions_3d")
    out = {}
    for subject, actions in data.items():
        out[subject] = {}
        for action, positions in actions.items():
            positions = np.asarray(positions, dtype=np.float32)
            if positions.ndim != 3 or positions.shape[1:] != (32, 3):
                raise ValueError(f"{path}: {subject}/{action} has shape {positions.shape}, expected (T, 32, 3)")
            out[subject][action] = positions[:, KEPT_JOINTS]
    return out


def load_keypoints_2d(path: str | Path) -> dict[str, dict[str, list[np.ndarray]]]:
    """``data_2d_h36m_<detector>.npz`` -> {subject: {action: [four (T, 17, 2) pixel arrays]}}.

    The detector's joint order must be H36M-17 with the same left/right sets as ours."""
    meta = load_npz_dict(path, "metadata")
    if int(meta.get("num_joints", -1)) != NUM_JOINTS:
        raise ValueError(f"{path}: {meta.get('num_joints')} joints, expected {NUM_JOINTS} (H36M-17 layout)")
    left, right = (sorted(map(int, s)) for s in meta["keypoints_symmetry"])
    if left != sorted(LEFT_JOINTS) or right != sorted(RIGHT_JOINTS):
        raise ValueError(f"{path}: keypoints_symmetry {left}/{right} does not match H36M-17 "
                         f"{list(LEFT_JOINTS)}/{list(RIGHT_JOINTS)}")
    data = load_npz_dict(path, "positions_2d")
    return {s: {a: [np.asarray(k, dtype=np.float32)[..., :2] for k in cams] for a, cams in actions.items()}
            for s, actions in data.items()}


@dataclass
class H36MSequence:
    """One subject/action/camera: normalised 2D input and root-relative camera-space 3D truth."""

    subject: str
    action: str
    camera: int
    pose2d: np.ndarray  # (T, 17, 2) normalize_screen of the camera's pixels
    target3d: np.ndarray  # (T, 17, 3) metres, root-relative, camera coordinates


def sequences(poses_3d: dict, keypoints_2d: dict, subjects=TEST_SUBJECTS) -> Iterator[H36MSequence]:
    """Every (subject, action, camera) of ``subjects`` with both 3D and 2D, trimmed to the shorter
    length as VideoPose3D does (the 2D detections can be a few frames shorter than the mocap)."""
    for subject in subjects:
        if subject not in poses_3d or subject not in keypoints_2d:
            raise ValueError(f"subject {subject} missing from the 3D or 2D file")
        for action, world in sorted(poses_3d[subject].items()):
            if action not in keypoints_2d[subject]:
                raise ValueError(f"{subject}/{action}: no 2D keypoints")
            for index, (cam, keypoints) in enumerate(zip(cameras(subject), keypoints_2d[subject][action])):
                length = min(len(world), len(keypoints))
                camera_points = cam.to_camera(world[:length])
                yield H36MSequence(subject, action, index, cam.normalize(keypoints[:length]),
                               camera_points - camera_points[:, :1])
