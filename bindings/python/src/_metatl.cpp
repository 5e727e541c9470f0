// pybind11 glue over include/metatl.h: handles, numpy buffers, GIL release, status → exception,
// and the one conversion of Python values into C values (as strictly as Python itself).
// Python idioms (progress, chunked training, model selection) live in metatl/__init__.py.
#include <metatl.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

// metatl.BusyError and metatl.DivergedError (RuntimeError subclasses), created at import.
PyObject *busy_error = PyExc_RuntimeError;
PyObject *diverged_error = PyExc_RuntimeError;

[[noreturn]] void raise(PyObject *type, const std::string &message) {
    PyErr_SetString(type, message.c_str());
    throw py::error_already_set();
}

// Raises the Python exception that matches a failed status, with the library's message.
void check(mt_status status) {
    if (status == MT_OK) return;
    std::string message = mt_last_error_message();
    PyObject *type = PyExc_RuntimeError;
    switch (status) {
    case MT_ERR_INVALID_ARGUMENT:
    case MT_ERR_INVALID_DATA:
    case MT_ERR_BUFFER_TOO_SMALL:
    case MT_ERR_UNKNOWN_ITEM:
    case MT_ERR_BAD_CHECKPOINT: type = PyExc_ValueError; break;
    case MT_ERR_NOT_FOUND: type = PyExc_FileNotFoundError; break;
    case MT_ERR_IO: type = PyExc_OSError; break;
    case MT_ERR_BUSY: type = busy_error; break;
    case MT_ERR_DIVERGED: type = diverged_error; break;
    default: type = PyExc_RuntimeError; break;
    }
    raise(type, message);
}

// ---- Python values → C values ------------------------------------------------------------
// Every argument of the package crosses here once (metatl/__init__.py calls integer() and flag()
// below for the few settings it keeps to itself): an int is an int, never a bool or a float
// truncated; a value outside its C type is an OverflowError, never a wrapped or "Unable to cast"
// one; a bool is True or False; a path is what open() accepts; an array is one-dimensional.

// A str's text as UTF-8 for a message (a lone surrogate backslash-escaped, never an error).
std::string text(const py::handle &s) {
    PyObject *bytes = PyUnicode_AsEncodedString(s.ptr(), "utf-8", "backslashreplace");
    if (bytes == nullptr) throw py::error_already_set();
    return std::string(py::reinterpret_steal<py::bytes>(bytes));
}
std::string text(const py::int_ &i) { return text(py::str(i)); }
std::string show(py::handle v) { return text(py::repr(v)); }
std::string describe(py::handle v) { return show(v) + " (" + Py_TYPE(v.ptr())->tp_name + ")"; }

bool is_bool(py::handle v) {
    const char *type = Py_TYPE(v.ptr())->tp_name;
    return PyBool_Check(v.ptr()) || std::strcmp(type, "numpy.bool") == 0 || std::strcmp(type, "numpy.bool_") == 0;
}

// A Python int, or anything with __index__ (numpy's integer scalars); TypeError otherwise.
py::int_ integer(py::handle v, const std::string &name) {
    if (is_bool(v) || !PyIndex_Check(v.ptr())) raise(PyExc_TypeError, name + " must be an integer, got " + describe(v));
    PyObject *i = PyNumber_Index(v.ptr());
    if (i == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::int_>(i);
}

void check_at_least(const py::int_ &i, const std::string &name, const py::int_ &minimum) {
    if (i < minimum)
        raise(PyExc_ValueError, name + " must be at least " + text(minimum) + ", got " + text(i));
}

template <typename T> const char *c_type_name();
template <> const char *c_type_name<int32_t>() { return "int32"; }
template <> const char *c_type_name<int64_t>() { return "int64"; }
template <> const char *c_type_name<uint64_t>() { return "uint64"; }
template <> const char *c_type_name<uint32_t>() { return "uint32"; }

// An integer argument as the C type T, at least `minimum` where the binding knows a bound.
template <typename T> T to_c(py::handle v, const std::string &name, T minimum = std::numeric_limits<T>::min()) {
    py::int_ i = integer(v, name);
    py::int_ lo(std::numeric_limits<T>::min()), hi(std::numeric_limits<T>::max());
    if (i < lo || i > hi)
        raise(PyExc_OverflowError,
              name + " must fit in " + c_type_name<T>() + " (" + text(lo) + ".." + text(hi) + "), got " + text(i));
    if (minimum != std::numeric_limits<T>::min()) check_at_least(i, name, py::int_(minimum));
    return i.cast<T>();
}

// A real number as a float32: ints and floats (numpy's too), never a bool or a string. The
// engine rejects non-finite settings; a finite value that float32 cannot hold is an OverflowError.
float to_float(py::handle v, const std::string &name) {
    if (is_bool(v) || PyUnicode_Check(v.ptr()) || PyBytes_Check(v.ptr()))
        raise(PyExc_TypeError, name + " must be a real number, got " + describe(v));
    double d = PyFloat_AsDouble(v.ptr());
    if (d == -1.0 && PyErr_Occurred()) {
        bool overflow = PyErr_ExceptionMatches(PyExc_OverflowError);
        PyErr_Clear();
        if (overflow) raise(PyExc_OverflowError, name + " is too large for a float32, got " + describe(v));
        raise(PyExc_TypeError, name + " must be a real number, got " + describe(v));
    }
    if (std::isfinite(d) && !std::isfinite(static_cast<float>(d)))
        raise(PyExc_OverflowError, name + " is too large for a float32, got " + describe(v));
    return static_cast<float>(d);
}

// True or False (numpy's bools too); anything else, truthy or not, is a TypeError.
bool flag(py::handle v, const std::string &name) {
    if (!is_bool(v)) raise(PyExc_TypeError, name + " must be True or False, got " + describe(v));
    return PyObject_IsTrue(v.ptr()) == 1;
}

// One of the names of a C enum (TypeError for a non-str, ValueError for an unknown name).
struct Name { const char *name; int32_t value; };
int32_t choice(py::handle v, const std::string &name, std::initializer_list<Name> names) {
    std::string options;
    for (const Name &n : names) options += std::string(options.empty() ? "" : ", ") + "'" + n.name + "'";
    if (!PyUnicode_Check(v.ptr())) raise(PyExc_TypeError, name + " must be one of " + options + ", got " + describe(v));
    for (const Name &n : names)
        if (py::str(n.name).equal(v)) return n.value;
    raise(PyExc_ValueError, name + " must be one of " + options + ", got " + show(v));
}
const char *name_of(int32_t value, std::initializer_list<Name> names) {
    for (const Name &n : names)
        if (n.value == value) return n.name;
    return "unknown";
}
const auto SAMPLERS = {Name{"reference", MT_SAMPLER_REFERENCE}, Name{"contiguous", MT_SAMPLER_CONTIGUOUS},
                       Name{"window", MT_SAMPLER_WINDOW}, Name{"every_window", MT_SAMPLER_EVERY_WINDOW}};
const auto INNER_STEPS = {Name{"reference", MT_INNER_STEP_REFERENCE}, Name{"per_task", MT_INNER_STEP_PER_TASK}};
const auto LOSSES = {Name{"margin", MT_LOSS_MARGIN}, Name{"softmax", MT_LOSS_SOFTMAX}};
const auto NEGATIVES = {Name{"uniform", MT_NEGATIVES_UNIFORM}, Name{"popularity", MT_NEGATIVES_POPULARITY},
                        Name{"mixed", MT_NEGATIVES_MIXED}};
const auto OPTIMIZERS = {Name{"adam", MT_OPTIMIZER_ADAM}, Name{"sparse_adam", MT_OPTIMIZER_SPARSE_ADAM}};
const auto SPLITS = {Name{"valid", MT_SPLIT_VALID}, Name{"test", MT_SPLIT_TEST}};
const auto PROTOCOLS = {Name{"sampled", MT_PROTOCOL_SAMPLED}, Name{"full", MT_PROTOCOL_FULL}};
const auto SELECTIONS = {Name{"sampled_mrr", MT_SELECT_SAMPLED_MRR}, Name{"full_mrr", MT_SELECT_FULL_MRR}};

// A path as open() takes it (str, bytes or os.PathLike, in the file system encoding). An
// embedded NUL is ValueError("embedded null byte") as open() says, never a shorter path. The
// engine reads a path as UTF-8 and repairs invalid bytes (String(cString:)), which would open
// another file: such a path is refused until the C API takes paths as bytes.
std::string fs_path(py::handle v, const std::string &name) {
    PyObject *bytes = nullptr;
    if (!PyUnicode_FSConverter(v.ptr(), &bytes)) {
        py::error_already_set e;
        raise(e.matches(PyExc_ValueError) ? PyExc_ValueError : PyExc_TypeError,
              name + ": " + text(py::str(e.value())));
    }
    std::string path(py::reinterpret_steal<py::bytes>(bytes));
    PyObject *utf8 = PyUnicode_DecodeUTF8(path.data(), (Py_ssize_t)path.size(), "strict");
    if (utf8 == nullptr) {
        PyErr_Clear();
        raise(PyExc_ValueError, name + ": " + show(py::bytes(path)) + " is not valid UTF-8, which libmetatl cannot open");
    }
    Py_DECREF(utf8);
    return path;
}

// The C calls take a pointer and a length: anything but a 1-D array would be read flattened.
template <typename Array> const Array &one_d(const Array &a, const char *name) {
    if (a.ndim() != 1) {
        std::string shape = "(";
        for (py::ssize_t i = 0; i < a.ndim(); i++) shape += (i ? ", " : "") + std::to_string(a.shape(i));
        raise(PyExc_ValueError, std::string(name) + " must be one-dimensional, got shape " + shape + ")");
    }
    return a;
}

// Handles are native: pickling one would otherwise abort the interpreter (protocols 0 and 1).
// Nor can Python make one with __new__ (a crafted pickle does): pybind11 would hand the methods an
// object whose C++ value was never constructed, and its garbage handle would crash the engine.
// Handles are only made by the functions below (pybind11 allocates those without calling __new__).
template <typename Class> void not_picklable(Class &cls) {
    cls.def("__reduce_ex__", [](py::handle self, py::handle) -> py::object {
        raise(PyExc_TypeError, std::string(Py_TYPE(self.ptr())->tp_name) +
                                   " is a native handle and cannot be pickled or copied; use the metatl package's classes");
    });
    cls.attr("__new__") = py::staticmethod(py::cpp_function([](py::args args, py::kwargs) -> py::object {
        std::string name = args.size() > 0 ? std::string(py::str(args[0].attr("__name__"))) : "handle";
        raise(PyExc_TypeError, "metatl._metatl." + name +
                                   " objects are made by the metatl package's functions, not directly");
    }));
}

using Ids = py::array_t<int64_t, py::array::c_style>;
using Floats = py::array_t<float, py::array::c_style>;
using Doubles = py::array_t<double, py::array::c_style>;

struct Dataset {
    mt_dataset *handle = nullptr;
    ~Dataset() { mt_dataset_free(handle); }

    py::dict info() const {
        mt_dataset_info i = mt_dataset_info_default();
        check(mt_dataset_info_get(handle, &i));
        py::dict d;
        d["items"] = i.items;
        d["items_not_in_training"] = i.items_not_in_training;
        d["train_users"] = i.train_users;
        d["train_interactions"] = i.train_interactions;
        d["valid_users"] = i.valid_users;
        d["test_users"] = i.test_users;
        d["K"] = i.K;
        int64_t unknown = 0;
        check(mt_dataset_unknown_interactions(handle, &unknown));
        d["unknown_interactions"] = unknown;
        return d;
    }

    // mt_dataset_string_ids: a list of str, or None for integer ids.
    py::object string_ids(int32_t column) const;

    // mt_baseline_evaluate and mt_baseline_evaluate_targets.
    py::dict baseline_metrics(py::handle baseline, py::handle split, py::handle protocol) const;
    py::tuple baseline_ranks(py::handle baseline, py::handle split, py::handle protocol) const;
};

// The metrics under the names of Model.evaluate (a model's and a baseline's alike).
py::dict metrics_dict(const mt_metrics &m) {
    py::dict d;
    d["MRR"] = m.mrr; d["NDCG@1"] = m.ndcg1; d["NDCG@5"] = m.ndcg5; d["NDCG@10"] = m.ndcg10;
    d["Hits@1"] = m.hits1; d["Hits@5"] = m.hits5; d["Hits@10"] = m.hits10; d["users"] = m.users;
    return d;
}

// The number of users of one split (the length a ranks call needs).
int64_t split_users(const mt_dataset *dataset, int32_t split) {
    mt_dataset_info info = mt_dataset_info_default();
    check(mt_dataset_info_get(dataset, &info));
    return split == MT_SPLIT_VALID ? info.valid_users : info.test_users;
}

// mt_dataset_options from the Dataset constructors' arguments (None: the library's default).
mt_dataset_options file_options(py::handle K, py::handle seed, py::handle max_file_bytes, py::handle sampled_negatives) {
    mt_dataset_options options = mt_dataset_options_default();
    options.K = to_c<int32_t>(K, "K");
    options.seed = to_c<uint64_t>(seed, "seed");
    if (!max_file_bytes.is_none()) options.max_file_bytes = to_c<uint64_t>(max_file_bytes, "max_file_bytes");
    if (!sampled_negatives.is_none()) options.sampled_negatives = to_c<int32_t>(sampled_negatives, "sampled_negatives");
    return options;
}

std::shared_ptr<Dataset> dataset_from_files(py::handle train, py::handle test, py::handle K, py::handle seed,
                                            py::handle max_file_bytes, py::handle sampled_negatives) {
    std::string train_path = fs_path(train, "train"), test_path = fs_path(test, "test");
    mt_dataset_options options = file_options(K, seed, max_file_bytes, sampled_negatives);
    auto d = std::make_shared<Dataset>();
    mt_status status;
    {
        py::gil_scoped_release release;
        status = mt_dataset_load(train_path.c_str(), test_path.c_str(), &options, &d->handle);
    }
    check(status);
    return d;
}

// String ids across the boundary: mt_string_ids as a list of str (None for integer ids), and a
// (bytes, int64 offsets) pair, packed by the Python side, as mt_string_ids (borrowing them).
py::object strings_list(const mt_string_ids &ids) {
    if (ids.count == 0) return py::none();
    py::list out(ids.count);
    for (size_t i = 0; i < ids.count; i++) {
        const char *start = ids.bytes + ids.offsets[i];
        out[i] = py::str(start, (size_t)(ids.offsets[i + 1] - ids.offsets[i]));
    }
    return out;
}

struct PackedStrings {
    std::string bytes;
    Ids offsets;
    mt_string_ids view() const {
        mt_string_ids v{nullptr, nullptr, 0};
        if (offsets.size() == 0) return v;
        v.bytes = bytes.data();
        v.offsets = offsets.data();
        v.count = (size_t)offsets.size() - 1;
        return v;
    }
};

PackedStrings packed_strings(py::handle strings, const char *name) {
    PackedStrings p;
    if (strings.is_none()) return p;
    auto pair = py::reinterpret_borrow<py::tuple>(strings);
    if (pair.size() != 2) throw py::type_error(std::string(name) + " must be None or (bytes, offsets)");
    p.bytes = pair[0].cast<std::string>();
    p.offsets = pair[1].cast<Ids>();
    one_d(p.offsets, name);
    return p;
}

py::object Dataset::string_ids(int32_t column) const {
    mt_string_ids ids;
    check(mt_dataset_string_ids(handle, column, &ids));
    return strings_list(ids);
}

// One set of rows as mt_interactions: the arrays checked (one-dimensional, one length) and
// borrowed, their string ids packed and held here (so a Rows is neither copied nor moved).
struct Rows {
    PackedStrings user_strings, item_strings;
    mt_interactions view;
    Rows(const Ids &users, const Ids &items, const Doubles &times, py::handle us, py::handle is, const std::string &prefix) {
        one_d(users, (prefix + "users").c_str()), one_d(items, (prefix + "items").c_str());
        one_d(times, (prefix + "timestamps").c_str());
        if (users.size() != items.size() || users.size() != times.size())
            throw py::value_error(prefix + "users, " + prefix + "items and " + prefix + "timestamps must have the same length");
        user_strings = packed_strings(us, (prefix + "user_strings").c_str());
        item_strings = packed_strings(is, (prefix + "item_strings").c_str());
        view = mt_interactions{sizeof(mt_interactions), users.data(), items.data(), times.data(), (size_t)users.size(),
                               user_strings.view(), item_strings.view()};
    }
    Rows(const Rows &) = delete;
    Rows &operator=(const Rows &) = delete;
};

std::shared_ptr<Dataset> dataset_from_interactions(const Ids &users, const Ids &items, const Doubles &times,
                                                   py::handle user_strings, py::handle item_strings,
                                                   const Ids &test_users, const Ids &test_items, const Doubles &test_times,
                                                   py::handle test_user_strings, py::handle test_item_strings,
                                                   py::handle K, py::handle seed, py::handle sampled_negatives) {
    Rows train(users, items, times, user_strings, item_strings, "");
    Rows test(test_users, test_items, test_times, test_user_strings, test_item_strings, "test_");
    mt_dataset_options options = file_options(K, seed, py::none(), sampled_negatives);
    auto d = std::make_shared<Dataset>();
    mt_status status;
    {
        py::gil_scoped_release release;
        status = mt_dataset_from_interactions(&train.view, &test.view, &options, &d->handle);
    }
    check(status);
    return d;
}

std::shared_ptr<Dataset> dataset_synthetic(py::handle side, py::handle train_users, py::handle new_users, py::handle seed) {
    int32_t n = to_c<int32_t>(side, "side"), train = to_c<int32_t>(train_users, "train_users"),
            fresh = to_c<int32_t>(new_users, "new_users");
    uint64_t s = to_c<uint64_t>(seed, "seed");
    auto d = std::make_shared<Dataset>();
    check(mt_dataset_synthetic(n, train, fresh, s, &d->handle));
    return d;
}

// A copy of a model's training state (mt_snapshot), owned by Python.
struct Snapshot {
    mt_snapshot *handle = nullptr;
    Snapshot() = default;
    Snapshot(const Snapshot &) = delete;
    Snapshot &operator=(const Snapshot &) = delete;
    ~Snapshot() { mt_snapshot_free(handle); }
    int64_t step() const { return mt_snapshot_step(handle); }
};

// The settings as Python sees them (metatl.Model's keyword arguments: mt_config's field names,
// hidden1/hidden2 as the pair `hidden`); config_from reads back what config_dict writes.
py::dict config_dict(const mt_config &c) {
    py::dict d;
    d["K"] = c.K; d["dim"] = c.dim; d["hidden"] = py::make_tuple(c.hidden1, c.hidden2);
    d["batch_size"] = c.batch_size; d["learning_rate"] = c.learning_rate; d["beta"] = c.beta;
    d["margin"] = c.margin; d["dropout"] = c.dropout; d["seed"] = c.seed;
    d["sampler"] = name_of(c.sampler, SAMPLERS);
    d["inner_step"] = name_of(c.inner_step, INNER_STEPS);
    d["threads"] = c.threads;
    d["loss"] = name_of(c.loss, LOSSES);
    d["shared_negatives"] = c.shared_negatives;
    d["tail_embeddings"] = c.tail_embeddings != 0;
    d["item_bias"] = c.item_bias != 0;
    d["zero_initial_relation"] = c.zero_initial_relation != 0;
    d["relation_penalty"] = c.relation_penalty;
    d["negatives"] = name_of(c.negatives, NEGATIVES);
    d["table_decay"] = c.table_decay;
    d["query_margin"] = c.query_margin != 0;
    d["optimizer"] = name_of(c.optimizer, OPTIMIZERS);
    d["eval_mode_after"] = c.eval_mode_after < 0 ? py::object(py::none()) : py::object(py::int_(c.eval_mode_after));
    return d;
}

// A preset by name (a str), as the library gives it: None is mt_config_default().
mt_config preset_config(py::handle name) {
    mt_config c = mt_config_default();
    if (name.is_none()) return c;
    if (!PyUnicode_Check(name.ptr()))
        raise(PyExc_TypeError, "preset must be a str ('recommended' or 'reference') or None, got " + describe(name));
    std::string n = text(name);
    if (n.find('\0') != std::string::npos) raise(PyExc_ValueError, "preset: embedded null byte");
    check(mt_config_preset(n.c_str(), &c));
    return c;
}

// `settings` over `base`: only the settings given change.
mt_config config_from(const py::dict &settings, mt_config c) {
    for (auto item : settings) {
        if (!PyUnicode_Check(item.first.ptr())) raise(PyExc_TypeError, "setting names must be str, got " + describe(item.first));
        std::string key = text(item.first);
        py::handle v = item.second;
        if (key == "K") c.K = to_c<int32_t>(v, key);
        else if (key == "dim") c.dim = to_c<int32_t>(v, key);
        else if (key == "hidden") {
            if (!PySequence_Check(v.ptr()) || PyUnicode_Check(v.ptr()) || PyBytes_Check(v.ptr()))
                raise(PyExc_TypeError, "hidden must be a pair of sizes, got " + describe(v));
            Py_ssize_t n = PySequence_Size(v.ptr());
            if (n < 0) throw py::error_already_set();
            if (n != 2) raise(PyExc_ValueError, "hidden must be two sizes, got " + describe(v));
            py::sequence h = py::reinterpret_borrow<py::sequence>(v);
            c.hidden1 = to_c<int32_t>(h[0], "hidden[0]");
            c.hidden2 = to_c<int32_t>(h[1], "hidden[1]");
        }
        else if (key == "batch_size") c.batch_size = to_c<int32_t>(v, key);
        else if (key == "learning_rate") c.learning_rate = to_float(v, key);
        else if (key == "beta") c.beta = to_float(v, key);
        else if (key == "margin") c.margin = to_float(v, key);
        else if (key == "dropout") c.dropout = to_float(v, key);
        else if (key == "seed") c.seed = to_c<uint64_t>(v, key);
        else if (key == "sampler") c.sampler = choice(v, key, SAMPLERS);
        else if (key == "inner_step") c.inner_step = choice(v, key, INNER_STEPS);
        else if (key == "threads") c.threads = to_c<int32_t>(v, key);
        else if (key == "loss") c.loss = choice(v, key, LOSSES);
        else if (key == "shared_negatives") c.shared_negatives = to_c<int32_t>(v, key);
        else if (key == "tail_embeddings") c.tail_embeddings = flag(v, key) ? 1 : 0;
        else if (key == "item_bias") c.item_bias = flag(v, key) ? 1 : 0;
        else if (key == "zero_initial_relation") c.zero_initial_relation = flag(v, key) ? 1 : 0;
        else if (key == "relation_penalty") c.relation_penalty = to_float(v, key);
        else if (key == "negatives") c.negatives = choice(v, key, NEGATIVES);
        else if (key == "table_decay") c.table_decay = to_float(v, key);
        else if (key == "query_margin") c.query_margin = flag(v, key) ? 1 : 0;
        else if (key == "optimizer") c.optimizer = choice(v, key, OPTIMIZERS);
        else if (key == "eval_mode_after") c.eval_mode_after = v.is_none() ? -1 : to_c<int64_t>(v, key, 0);
        else raise(PyExc_ValueError, "unknown setting '" + key + "'");
    }
    return c;
}

// A learning-curve point under the names every surface uses (train_loss None before training).
py::dict curve_dict(const mt_curve_point &p) {
    py::dict d;
    d["step"] = p.step;
    d["elapsed_seconds"] = p.elapsed_seconds;
    d["steps_per_second"] = p.steps_per_second;
    d["train_loss"] = std::isnan(p.train_loss) ? py::object(py::none()) : py::object(py::float_(p.train_loss));
    d["valid_sampled_mrr"] = p.valid_sampled_mrr;
    d["valid_sampled_hits10"] = p.valid_sampled_hits10;
    d["valid_full_mrr"] = p.valid_full_mrr;
    d["valid_full_hits10"] = p.valid_full_hits10;
    return d;
}

// The library's fit defaults (mt_fit_params_default), by the names Model.fit takes.
py::dict fit_defaults() {
    mt_fit_params f = mt_fit_params_default();
    py::dict d;
    d["max_steps"] = f.max_steps;
    d["eval_every"] = f.eval_every;
    d["patience"] = f.patience;
    d["select_by"] = f.select_by == MT_SELECT_FULL_MRR ? "full_mrr" : "sampled_mrr";
    return d;
}

// A Python function called from mt_progress_callback, with the GIL, as
// callback(done, total, step, query_loss, validation or None) -> stop (truthy).
// The first exception it raises (a KeyboardInterrupt from Ctrl-C among them) cancels the call
// and is kept for the caller, never thrown through the library's frames.
struct ProgressTrampoline {
    py::object function;
    py::object error = py::none();

    static int32_t call(const mt_progress *p, void *user_data) {
        auto *self = static_cast<ProgressTrampoline *>(user_data);
        py::gil_scoped_acquire gil;
        try {
            py::object validation = p->validation ? py::object(curve_dict(*p->validation)) : py::object(py::none());
            py::object stop = self->function(p->done, p->total, p->step, p->query_loss, validation);
            int truth = PyObject_IsTrue(stop.ptr());
            if (truth < 0) throw py::error_already_set();
            return truth ? 1 : 0;
        } catch (py::error_already_set &e) {
            if (self->error.is_none()) self->error = e.value();
            return 1;
        } catch (const std::exception &e) {
            if (self->error.is_none()) self->error = py::module_::import("builtins").attr("RuntimeError")(e.what());
            return 1;
        }
    }
};

struct Model {
    mt_model *handle = nullptr;
    ~Model() { mt_model_free(handle); }

    int32_t dim() const {
        int32_t d = 0;
        check(mt_model_info(handle, nullptr, &d, nullptr));
        return d;
    }
    int64_t items() const {
        int64_t n = 0;
        check(mt_model_info(handle, &n, nullptr, nullptr));
        return n;
    }
    int64_t step() const {
        int64_t s = 0;
        check(mt_model_info(handle, nullptr, nullptr, &s));
        return s;
    }

    py::dict config() const {
        mt_config c = mt_config_default();
        check(mt_model_config(handle, &c));
        return config_dict(c);
    }

    // mt_model_item_strings: a list of str in code order, or None for integer ids.
    py::object item_strings() const {
        mt_string_ids ids;
        check(mt_model_item_strings(handle, &ids));
        return strings_list(ids);
    }

    std::shared_ptr<Snapshot> snapshot() const {
        auto snap = std::make_shared<Snapshot>();
        check(mt_model_snapshot(handle, &snap->handle));
        return snap;
    }
    void restore(const Snapshot &snap) { check(mt_model_restore(handle, snap.handle)); }

    // mt_model_train_with_progress; `callback` (None for none) as ProgressTrampoline. Returns the
    // mean loss and the callback's exception (None when it raised none).
    std::pair<float, py::object> train(const Dataset &data, py::handle steps, py::object callback) {
        int64_t n = to_c<int64_t>(steps, "steps");
        float loss = 0;
        mt_status s;
        ProgressTrampoline trampoline{callback};
        {
            py::gil_scoped_release release;
            s = callback.is_none() ? mt_model_train(handle, data.handle, n, &loss)
                                   : mt_model_train_with_progress(handle, data.handle, n, &ProgressTrampoline::call,
                                                                  &trampoline, &loss);
        }
        check(s);
        return {loss, trampoline.error};
    }

    // mt_model_fit with the GIL released; `callback` as ProgressTrampoline. Returns the summary,
    // the curve and the callback's exception (None when it raised none) in one dict.
    py::dict fit(const Dataset &data, py::handle max_steps, py::handle eval_every, py::handle patience,
                 py::handle select_by, py::object callback) {
        mt_fit_params params = mt_fit_params_default();
        params.max_steps = to_c<int64_t>(max_steps, "max_steps");
        params.eval_every = to_c<int64_t>(eval_every, "eval_every");
        params.patience = to_c<int64_t>(patience, "patience");
        params.select_by = choice(select_by, "select_by", SELECTIONS);
        ProgressTrampoline trampoline{callback};
        if (!callback.is_none()) {
            params.progress_callback = &ProgressTrampoline::call;
            params.progress_user_data = &trampoline;
        }
        mt_fit_result *result = nullptr;
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_fit(handle, data.handle, &params, &result);
        }
        std::unique_ptr<mt_fit_result, void (*)(mt_fit_result *)> owned(result, mt_fit_result_free);
        if (s != MT_OK && !trampoline.error.is_none()) {
            // The callback's exception is the cause; raise it, not the status.
            PyErr_SetObject(reinterpret_cast<PyObject *>(Py_TYPE(trampoline.error.ptr())), trampoline.error.ptr());
            throw py::error_already_set();
        }
        check(s);
        mt_fit_summary summary = {};
        summary.struct_size = sizeof summary;
        check(mt_fit_result_summary(result, &summary));
        py::list curve;
        for (int64_t i = 0; i < summary.curve_points; i++) {
            mt_curve_point p = {};
            p.struct_size = sizeof p;
            check(mt_fit_result_curve_point(result, static_cast<size_t>(i), &p));
            curve.append(curve_dict(p));
        }
        const char *why = mt_fit_result_divergence(result);
        py::dict d;
        d["best_step"] = summary.best_step;
        d["best_score"] = summary.best_score;
        d["steps_taken"] = summary.steps_taken;
        d["stopped_early"] = summary.stopped_early != 0;
        d["cancelled"] = summary.cancelled != 0;
        d["divergence"] = why ? py::object(py::str(why)) : py::object(py::none());
        d["curve"] = curve;
        d["error"] = trampoline.error;
        return d;
    }

    // mt_model_evaluate_targets: (user ids, ranks; 0 for a miss, target scores) of one split.
    py::tuple ranks(const Dataset &data, py::handle split, py::handle protocol) const {
        int32_t sp = choice(split, "split", SPLITS), pr = choice(protocol, "protocol", PROTOCOLS);
        int64_t n = split_users(data.handle, sp);
        Ids users(n), ranks(n);
        py::array_t<double> scores(n);
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_evaluate_targets(handle, data.handle, sp, pr, users.mutable_data(), ranks.mutable_data(),
                                          scores.mutable_data(), (size_t)n);
        }
        check(s);
        return py::make_tuple(users, ranks, scores);
    }

    py::dict evaluate(const Dataset &data, py::handle split, py::handle protocol) const {
        int32_t sp = choice(split, "split", SPLITS), pr = choice(protocol, "protocol", PROTOCOLS);
        mt_metrics m = mt_metrics_default();
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_evaluate(handle, data.handle, sp, pr, &m);
        }
        check(s);
        return metrics_dict(m);
    }

    float attach_transition_prior(const Dataset &data, float weight) {
        float chosen = 0;
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_attach_transition_prior(handle, data.handle, weight, &chosen);
        }
        check(s);
        return chosen;
    }

    float transition_prior_weight() const {
        float w = 0;
        check(mt_model_transition_prior_weight(handle, &w));
        return w;
    }

    Floats adapt(const Ids &history) const {
        one_d(history, "history");
        Floats out(dim());
        float *r = out.mutable_data();
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_adapt(handle, history.data(), (size_t)history.size(), r, (size_t)out.size());
        }
        check(s);
        return out;
    }

    Floats score(const Floats &relation, py::handle last, const Ids &candidates) const {
        one_d(relation, "relation"), one_d(candidates, "candidates");
        int64_t last_item = to_c<int64_t>(last, "last");
        Floats out(candidates.size());
        float *o = out.mutable_data();
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_score(handle, relation.data(), (size_t)relation.size(), last_item, candidates.data(),
                               (size_t)candidates.size(), o);
        }
        check(s);
        return out;
    }

    // mt_model_attach_index with the given settings (None: the C default) -> index_info().
    py::dict attach_index(py::handle lists, py::handle probes) {
        mt_index_settings o = mt_index_settings_default();
        if (!lists.is_none()) o.lists = to_c<uint32_t>(lists, "lists");
        if (!probes.is_none()) o.probes = to_c<uint32_t>(probes, "probes", 1);
        mt_index_info info{};
        info.struct_size = sizeof info;
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_attach_index(handle, &o, &info);
        }
        check(s);
        return index_dict(info);
    }

    void detach_index() { check(mt_model_detach_index(handle)); }

    bool serving_only() const {
        int serving = 0;
        check(mt_model_serving_only(handle, &serving));
        return serving != 0;
    }

    py::object index_info() const {
        mt_index_info info{};
        info.struct_size = sizeof info;
        int attached = 0;
        check(mt_model_index_info(handle, &attached, &info));
        if (!attached) return py::none();
        return index_dict(info);
    }

    static py::dict index_dict(const mt_index_info &i) {
        py::dict d;
        d["lists"] = i.lists;
        d["probes"] = i.probes;
        d["items"] = i.items;
        d["bytes"] = i.bytes;
        d["build_seconds"] = i.build_seconds;
        d["imbalance"] = i.imbalance;
        return d;
    }

    std::pair<Ids, Floats> recommend(const Ids &history, py::handle top_n, py::handle exclude_history,
                                     py::handle include_untrained, py::handle exact) const {
        one_d(history, "history");
        int64_t top = to_c<int64_t>(top_n, "top_n", 1);
        uint32_t flags = (flag(exclude_history, "exclude_history") ? 0u : MT_RECOMMEND_INCLUDE_HISTORY) |
                         (flag(include_untrained, "include_untrained") ? MT_RECOMMEND_INCLUDE_UNTRAINED : 0u) |
                         (flag(exact, "exact") ? MT_RECOMMEND_EXACT : 0u);
        int64_t n_items = items();
        int64_t room = top < n_items ? top : n_items;
        Ids ids(room);
        Floats scores(room);
        int64_t *ip = ids.mutable_data();
        float *sp = scores.mutable_data();
        size_t written = 0;
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_recommend(handle, history.data(), (size_t)history.size(), (size_t)room, flags, ip, sp, &written);
        }
        check(s);
        ids.resize({(py::ssize_t)written});
        scores.resize({(py::ssize_t)written});
        return {ids, scores};
    }

    // mt_model_recommend_batch over a flat id array and its offsets (users + 1 entries).
    py::tuple recommend_batch(const Ids &flat, const py::array_t<uint64_t, py::array::c_style> &offsets,
                              py::handle top_n, py::handle exclude_history, py::object allowed, const Ids &blocked,
                              py::handle fail_on_unknown, py::handle include_untrained, py::handle exact) const {
        one_d(flat, "histories"), one_d(offsets, "offsets"), one_d(blocked, "blocked");
        mt_recommend_options o = mt_recommend_options_default();
        o.top_n = static_cast<size_t>(to_c<int64_t>(top_n, "top_n", 1));
        o.flags = (flag(exclude_history, "exclude_history") ? 0u : MT_RECOMMEND_INCLUDE_HISTORY) |
                  (flag(fail_on_unknown, "fail_on_unknown") ? MT_RECOMMEND_UNKNOWN_IS_ERROR : 0u) |
                  (flag(include_untrained, "include_untrained") ? MT_RECOMMEND_INCLUDE_UNTRAINED : 0u) |
                  (flag(exact, "exact") ? MT_RECOMMEND_EXACT : 0u);
        Ids allowed_ids;
        if (!allowed.is_none()) {
            allowed_ids = allowed.cast<Ids>();
            one_d(allowed_ids, "allowed");
            o.allowed = allowed_ids.data();
            o.allowed_count = static_cast<size_t>(allowed_ids.size());
        }
        o.blocked = blocked.data();
        o.blocked_count = static_cast<size_t>(blocked.size());
        size_t users = offsets.size() > 0 ? static_cast<size_t>(offsets.size() - 1) : 0;
        py::array_t<int64_t> items({(py::ssize_t)users, (py::ssize_t)o.top_n});
        py::array_t<float> scores({(py::ssize_t)users, (py::ssize_t)o.top_n});
        py::array_t<int64_t> counts((py::ssize_t)users), unknown((py::ssize_t)users);
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_recommend_batch(handle, flat.data(), reinterpret_cast<const size_t *>(offsets.data()), users, &o,
                                         items.mutable_data(), scores.mutable_data(),
                                         reinterpret_cast<size_t *>(counts.mutable_data()),
                                         reinterpret_cast<size_t *>(unknown.mutable_data()));
        }
        check(s);
        return py::make_tuple(items, scores, counts, unknown);
    }

    std::pair<Ids, Floats> item_table(py::handle with_embeddings_arg) const {
        bool with_embeddings = flag(with_embeddings_arg, "with_embeddings");
        int64_t n = items();
        int32_t d = dim();
        Ids ids(n);
        Floats emb(with_embeddings ? std::vector<py::ssize_t>{(py::ssize_t)n, (py::ssize_t)d} : std::vector<py::ssize_t>{0});
        check(mt_model_items(handle, ids.mutable_data(), (size_t)n, with_embeddings ? emb.mutable_data() : nullptr,
                             with_embeddings ? (size_t)(n * d) : 0));
        return {ids, emb};
    }

    void save(py::handle path) const {
        std::string p = fs_path(path, "path");
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_save(handle, p.c_str());
        }
        check(s);
    }

    // The checkpoint as bytes (mt_model_save_bytes), copied into a Python bytes object.
    py::bytes to_bytes() const {
        uint8_t *data = nullptr;
        size_t size = 0;
        mt_status s;
        {
            py::gil_scoped_release release;
            s = mt_model_save_bytes(handle, &data, &size);
        }
        check(s);
        std::unique_ptr<uint8_t, void (*)(uint8_t *)> owned(data, mt_bytes_free);
        return py::bytes(reinterpret_cast<const char *>(data), size);
    }
};

std::shared_ptr<Model> model_create(const py::dict &settings, const Dataset &data) {
    mt_config c = config_from(settings, mt_config_default());
    auto m = std::make_shared<Model>();
    check(mt_model_create(&c, data.handle, &m->handle));
    return m;
}

// mt_model_load, or mt_model_load_for_serving with `serving_only`.
std::shared_ptr<Model> model_load(py::handle path, py::handle serving_only) {
    std::string p = fs_path(path, "path");
    bool serving = flag(serving_only, "serving_only");
    auto m = std::make_shared<Model>();
    mt_status s;
    {
        py::gil_scoped_release release;
        s = serving ? mt_model_load_for_serving(p.c_str(), &m->handle) : mt_model_load(p.c_str(), &m->handle);
    }
    check(s);
    return m;
}

const auto BASELINES = {Name{"popularity", MT_BASELINE_POPULARITY}, Name{"transition", MT_BASELINE_TRANSITION},
                        Name{"transition2", MT_BASELINE_TRANSITION2}};

py::dict Dataset::baseline_metrics(py::handle baseline, py::handle split, py::handle protocol) const {
    int32_t b = choice(baseline, "baseline", BASELINES);
    int32_t sp = choice(split, "split", SPLITS), pr = choice(protocol, "protocol", PROTOCOLS);
    mt_metrics m = mt_metrics_default();
    mt_status s;
    {
        py::gil_scoped_release release;
        s = mt_baseline_evaluate(handle, b, sp, pr, &m);
    }
    check(s);
    return metrics_dict(m);
}

py::tuple Dataset::baseline_ranks(py::handle baseline, py::handle split, py::handle protocol) const {
    int32_t b = choice(baseline, "baseline", BASELINES);
    int32_t sp = choice(split, "split", SPLITS), pr = choice(protocol, "protocol", PROTOCOLS);
    int64_t n = split_users(handle, sp);
    py::array_t<int64_t> users(n), ranks(n);
    py::array_t<double> scores(n);
    mt_status s;
    {
        py::gil_scoped_release release;
        s = mt_baseline_evaluate_targets(handle, b, sp, pr, users.mutable_data(), ranks.mutable_data(), scores.mutable_data(),
                                         (size_t)n);
    }
    check(s);
    return py::make_tuple(users, ranks, scores);
}

// mt_dataset_load_for_model: a cohort over `model`'s vocabulary.
std::shared_ptr<Dataset> dataset_for_model(py::handle train, py::handle test, py::handle K, py::handle seed,
                                           py::handle max_file_bytes, py::handle sampled_negatives, const Model &model,
                                           py::handle fail_on_unknown) {
    std::string train_path = fs_path(train, "train"), test_path = fs_path(test, "test");
    mt_dataset_options options = file_options(K, seed, max_file_bytes, sampled_negatives);
    uint32_t flags = flag(fail_on_unknown, "fail_on_unknown") ? MT_DATASET_UNKNOWN_IS_ERROR : 0u;
    auto d = std::make_shared<Dataset>();
    mt_status status;
    {
        py::gil_scoped_release release;
        status = mt_dataset_load_for_model(train_path.c_str(), test_path.c_str(), &options, model.handle, flags, &d->handle);
    }
    check(status);
    return d;
}

// A model from checkpoint bytes (bytes, bytearray or anything with the buffer protocol), for
// serving only with `serving_only` (mt_model_load_bytes_for_serving).
std::shared_ptr<Model> model_from_bytes(py::handle data, py::handle serving_only) {
    if (!PyObject_CheckBuffer(data.ptr()) || PyUnicode_Check(data.ptr()))
        raise(PyExc_TypeError, "data must be bytes (a checkpoint), got " + describe(data));
    py::buffer_info info = py::reinterpret_borrow<py::buffer>(data).request();
    if (info.ndim > 1 || info.itemsize != 1)
        raise(PyExc_TypeError, "data must be a flat buffer of bytes, got " + describe(data));
    bool serving = flag(serving_only, "serving_only");
    auto m = std::make_shared<Model>();
    mt_status s;
    {
        py::gil_scoped_release release;
        const uint8_t *bytes = static_cast<const uint8_t *>(info.ptr);
        size_t size = static_cast<size_t>(info.size);
        s = serving ? mt_model_load_bytes_for_serving(bytes, size, &m->handle) : mt_model_load_bytes(bytes, size, &m->handle);
    }
    check(s);
    return m;
}

PyObject *new_error(const char *name, const char *doc) {
    PyObject *type = PyErr_NewExceptionWithDoc(name, doc, PyExc_RuntimeError, nullptr);
    if (type == nullptr) throw py::error_already_set();
    return type;  // kept for the life of the process, as the module's attribute
}

}  // namespace

// mt_split_options from metatl.split's and Dataset.from_pandas' arguments (None: the library's
// default); `columns` must outlive the options.
mt_split_options split_options(py::handle cut_time, py::handle new_user_fraction, py::handle min_train_interactions,
                               py::handle min_new_interactions) {
    auto real = [](py::handle v, const std::string &name) {
        if (is_bool(v) || PyUnicode_Check(v.ptr()) || PyBytes_Check(v.ptr()))
            raise(PyExc_TypeError, name + " must be a real number, got " + describe(v));
        double d = PyFloat_AsDouble(v.ptr());
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            raise(PyExc_TypeError, name + " must be a real number, got " + describe(v));
        }
        return d;
    };
    mt_split_options o = mt_split_options_default();
    if (!cut_time.is_none()) {
        if (!new_user_fraction.is_none()) raise(PyExc_ValueError, "give cut_time or new_user_fraction, not both");
        o.cut_by_time = 1;
        o.cut_time = real(cut_time, "cut_time");
    } else if (!new_user_fraction.is_none()) {
        o.new_user_fraction = real(new_user_fraction, "new_user_fraction");
    }
    if (!min_train_interactions.is_none()) o.min_train_interactions = to_c<int32_t>(min_train_interactions, "min_train_interactions");
    if (!min_new_interactions.is_none()) o.min_new_interactions = to_c<int32_t>(min_new_interactions, "min_new_interactions");
    return o;
}

py::dict split_info_dict(const mt_split_info &info) {
    py::dict d;
    d["cut_time"] = info.cut_time;
    d["train_users"] = info.train_users;
    d["train_interactions"] = info.train_interactions;
    d["new_users"] = info.new_users;
    d["new_interactions"] = info.new_interactions;
    d["dropped_train_users"] = info.dropped_train_users;
    d["dropped_new_users"] = info.dropped_new_users;
    d["new_items_not_in_training"] = info.new_items_not_in_training;
    return d;
}

// metatl.split: mt_split_files, one interaction log into the reference's two files. Returns what
// was written (mt_split_info) as a dict.
py::dict split_files(py::handle input, py::handle train_out, py::handle test_out, py::handle cut_time,
                     py::handle new_user_fraction, py::handle columns, py::handle min_train_interactions,
                     py::handle min_new_interactions, py::handle max_file_bytes) {
    std::string in = fs_path(input, "input"), train = fs_path(train_out, "train_out"), test = fs_path(test_out, "test_out");
    mt_split_options o = split_options(cut_time, new_user_fraction, min_train_interactions, min_new_interactions);
    std::string cols;
    if (!columns.is_none()) {
        if (!PyUnicode_Check(columns.ptr())) raise(PyExc_TypeError, "columns must be a str such as 'user,item,timestamp', got " + describe(columns));
        cols = text(columns);
        if (cols.find('\0') != std::string::npos) raise(PyExc_ValueError, "columns holds a NUL character");
        o.columns = cols.c_str();
    }
    if (!max_file_bytes.is_none()) o.max_file_bytes = to_c<uint64_t>(max_file_bytes, "max_file_bytes");
    mt_split_info info = mt_split_info_default();
    mt_status status;
    {
        py::gil_scoped_release release;
        status = mt_split_files(in.c_str(), train.c_str(), test.c_str(), &o, &info);
    }
    check(status);
    return split_info_dict(info);
}

// mt_dataset_split: one log's rows (ids as in dataset_from_interactions) split into a dataset.
std::pair<std::shared_ptr<Dataset>, py::dict> dataset_split(const Ids &users, const Ids &items, const Doubles &times,
                                                            py::handle user_strings, py::handle item_strings,
                                                            py::handle cut_time, py::handle new_user_fraction,
                                                            py::handle min_train_interactions, py::handle min_new_interactions,
                                                            py::handle K, py::handle seed, py::handle sampled_negatives) {
    Rows log(users, items, times, user_strings, item_strings, "");
    mt_split_options o = split_options(cut_time, new_user_fraction, min_train_interactions, min_new_interactions);
    mt_dataset_options options = file_options(K, seed, py::none(), sampled_negatives);
    mt_split_info info = mt_split_info_default();
    auto d = std::make_shared<Dataset>();
    mt_status status;
    {
        py::gil_scoped_release release;
        status = mt_dataset_split(&log.view, &o, &options, &d->handle, &info);
    }
    check(status);
    return {d, split_info_dict(info)};
}

PYBIND11_MODULE(_metatl, m) {
    m.doc() = "Low-level bindings of libmetatl (include/metatl.h); use the `metatl` package instead.";
    m.def("version", [] { return std::string(mt_version()); });
    m.def("fit_defaults", &fit_defaults);
    m.def("threads_release", [] {
        py::gil_scoped_release release;
        mt_threads_release();
    });
    m.attr("HEADER_VERSION") = MT_VERSION_STRING;

    busy_error = new_error("metatl.BusyError",
                           "The model is in use by a conflicting call (MT_ERR_BUSY; a RuntimeError): fit needs the\n"
                           "model alone, and serving or reading its step is refused while it trains. Nothing was\n"
                           "changed; retry later.");
    diverged_error = new_error("metatl.DivergedError",
                               "Training produced a non-finite or out-of-bound value (MT_ERR_DIVERGED; a RuntimeError).\n"
                               "The model is left as it was before the failing step; a lower learning_rate usually\n"
                               "helps.");
    m.attr("BusyError") = py::handle(busy_error);
    m.attr("DivergedError") = py::handle(diverged_error);

    // The conversions above, for the settings metatl/__init__.py keeps to itself.
    m.def("integer", [](py::handle value, const std::string &name, py::object minimum) {
        py::int_ i = integer(value, name);
        if (!minimum.is_none()) check_at_least(i, name, integer(minimum, "minimum"));
        return i;
    }, py::arg("value"), py::arg("name"), py::arg("minimum") = py::none());
    m.def("flag", [](py::handle value, const std::string &name) { return flag(value, name); },
          py::arg("value"), py::arg("name"));
    // Every setting of a preset (None: the library's default), with `settings` changed.
    m.def("settings", [](py::handle preset, const py::dict &settings) {
        return config_dict(config_from(settings, preset_config(preset)));
    }, py::arg("preset"), py::arg("settings"));

    py::class_<Dataset, std::shared_ptr<Dataset>> dataset(m, "Dataset");
    dataset.def("info", &Dataset::info);
    dataset.def("user_strings", [](const Dataset &d) { return d.string_ids(MT_COLUMN_USERS); });
    dataset.def("item_strings", [](const Dataset &d) { return d.string_ids(MT_COLUMN_ITEMS); });
    dataset.def("baseline_metrics", &Dataset::baseline_metrics, py::arg("baseline"), py::arg("split"), py::arg("protocol"));
    dataset.def("baseline_ranks", &Dataset::baseline_ranks, py::arg("baseline"), py::arg("split"), py::arg("protocol"));
    not_picklable(dataset);
    m.def("dataset_from_files", &dataset_from_files, py::arg("train"), py::arg("test"), py::arg("K"), py::arg("seed"),
          py::arg("max_file_bytes") = py::none(), py::arg("sampled_negatives") = py::none());
    m.def("metrics_at_cutoff", [](const Ids &ranks, py::handle k) {
        one_d(ranks, "ranks");
        double ndcg = 0, hits = 0;
        check(mt_metrics_at_cutoff(ranks.data(), (size_t)ranks.size(), to_c<int32_t>(k, "cutoff"), &ndcg, &hits));
        return std::make_pair(ndcg, hits);
    }, py::arg("ranks"), py::arg("k"));
    m.attr("DEFAULT_MAX_FILE_BYTES") = py::int_(mt_dataset_options_default().max_file_bytes);
    m.def("dataset_from_interactions", &dataset_from_interactions, py::arg("users"), py::arg("items"), py::arg("timestamps"),
          py::arg("user_strings"), py::arg("item_strings"), py::arg("test_users"), py::arg("test_items"),
          py::arg("test_timestamps"), py::arg("test_user_strings"), py::arg("test_item_strings"), py::arg("K"), py::arg("seed"),
          py::arg("sampled_negatives") = py::none());
    m.def("dataset_synthetic", &dataset_synthetic, py::arg("side"), py::arg("train_users"), py::arg("new_users"),
          py::arg("seed"));

    py::class_<Snapshot, std::shared_ptr<Snapshot>> snapshot(m, "Snapshot");
    snapshot.def("step", &Snapshot::step);
    not_picklable(snapshot);

    py::class_<Model, std::shared_ptr<Model>> model(m, "Model");
    model.def("dim", &Model::dim)
        .def("items", &Model::items)
        .def("step", &Model::step)
        .def("config", &Model::config)
        .def("item_strings", &Model::item_strings)
        .def("train", &Model::train, py::arg("data"), py::arg("steps"), py::arg("callback") = py::none())
        .def("fit", &Model::fit, py::arg("data"), py::arg("max_steps"), py::arg("eval_every"), py::arg("patience"),
             py::arg("select_by"), py::arg("callback"))
        .def("snapshot", &Model::snapshot)
        .def("restore", &Model::restore, py::arg("snapshot"))
        .def("evaluate", &Model::evaluate, py::arg("data"), py::arg("split"), py::arg("protocol"))
        .def("ranks", &Model::ranks, py::arg("data"), py::arg("split"), py::arg("protocol"))
        .def("attach_transition_prior", &Model::attach_transition_prior, py::arg("data"), py::arg("weight"))
        .def("transition_prior_weight", &Model::transition_prior_weight)
        .def("adapt", &Model::adapt, py::arg("history"))
        .def("score", &Model::score, py::arg("relation"), py::arg("last"), py::arg("candidates"))
        .def("recommend", &Model::recommend, py::arg("history"), py::arg("top_n"), py::arg("exclude_history"),
             py::arg("include_untrained"), py::arg("exact"))
        .def("recommend_batch", &Model::recommend_batch, py::arg("histories"), py::arg("offsets"), py::arg("top_n"),
             py::arg("exclude_history"), py::arg("allowed"), py::arg("blocked"), py::arg("fail_on_unknown"),
             py::arg("include_untrained"), py::arg("exact"))
        .def("attach_index", &Model::attach_index, py::arg("lists"), py::arg("probes"))
        .def("detach_index", &Model::detach_index)
        .def("serving_only", &Model::serving_only)
        .def("index_info", &Model::index_info)
        .def("item_table", &Model::item_table, py::arg("with_embeddings"))
        .def("save", &Model::save, py::arg("path"))
        .def("to_bytes", &Model::to_bytes);
    not_picklable(model);
    m.def("model_create", &model_create, py::arg("settings"), py::arg("data"));
    m.def("model_load", &model_load, py::arg("path"), py::arg("serving_only"));
    m.def("model_from_bytes", &model_from_bytes, py::arg("data"), py::arg("serving_only"));
    m.def("dataset_for_model", &dataset_for_model, py::arg("train"), py::arg("test"), py::arg("K"), py::arg("seed"),
          py::arg("max_file_bytes"), py::arg("sampled_negatives"), py::arg("model"), py::arg("fail_on_unknown"));
    m.def("dataset_split", &dataset_split, py::arg("users"), py::arg("items"), py::arg("timestamps"), py::arg("user_strings"),
          py::arg("item_strings"), py::arg("cut_time"), py::arg("new_user_fraction"), py::arg("min_train_interactions"),
          py::arg("min_new_interactions"), py::arg("K"), py::arg("seed"), py::arg("sampled_negatives"));
    m.def("split_files", &split_files, py::arg("input"), py::arg("train_out"), py::arg("test_out"), py::arg("cut_time"),
          py::arg("new_user_fraction"), py::arg("columns"), py::arg("min_train_interactions"),
          py::arg("min_new_interactions"), py::arg("max_file_bytes"));
}
