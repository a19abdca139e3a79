//! The planner and executor: a graph is compiled once into a [`Plan`] (topological order,
//! value slots, last uses, kernels chosen by the backend), then run any number of times.

use crate::memory::{self, BufferPool, Lifetime, MemoryPlan};
use crate::ops::{ExecCtx, InArg, Op};
use crate::{Attr, Dim, Error, Graph, Node, Result, Tensor, Value, ValueInfo};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A backend chooses, once at plan time, the kernel that runs each node.
/// The CPU reference backend runs each operator's reference implementation.
pub trait Backend: Send + Sync {
    fn name(&self) -> &str;
    /// The kernel for `node`, or `None` if this backend cannot run it.
    fn kernel(&self, node: &Node) -> Option<Arc<dyn Op>>;
}

/// Runs every node with its operator's reference implementation.
pub struct ReferenceBackend;

impl Backend for ReferenceBackend {
    fn name(&self) -> &str {
        "cpu-reference"
    }
    fn kernel(&self, node: &Node) -> Option<Arc<dyn Op>> {
        Some(node.op.clone())
    }
}

#[derive(Debug, Clone, Copy)]
enum Source {
    /// Filled by the caller (graph input) at run time.
    Input,
    /// A constant (initializer).
    Const,
    /// Produced by step `n`.
    Step,
    /// Read from the enclosing scope (subgraphs only).
    Outer,
}

struct Step {
    node: Node,
    kernel: Arc<dyn Op>,
    inputs: Vec<Option<usize>>,
    outputs: Vec<Option<usize>>,
    /// Slots whose last reader is this step (freed after it runs).
    free_after: Vec<usize>,
    /// Input positions the kernel may reuse in place and that die here (see [`Op::inplace_inputs`]).
    donate: Vec<usize>,
}

/// How long one step (node) of a profiled run took; see [`Plan::run_profiled`].
#[derive(Debug, Clone)]
pub struct StepTiming {
    /// The node's name (or `OpType→first_output` when unnamed).
    pub node: String,
    pub op_type: String,
    /// Wall time of the kernel call (subgraphs of If/Loop/Scan included).
    pub elapsed: Duration,
}

/// A compiled graph, ready to run.
pub struct Plan {
    graph: Arc<Graph>,
    slot_names: Vec<String>,
    slot_of: HashMap<String, usize>,
    sources: Vec<Source>,
    consts: Vec<(usize, Arc<Tensor>)>,
    input_slots: Vec<(ValueInfo, usize)>,
    output_slots: Vec<usize>,
    steps: Vec<Step>,
    subplans: HashMap<usize, Arc<Plan>>,
    /// The intra-op thread pool kernels run in (`None`: one thread); see [`Plan::set_threads`].
    thread_pool: Option<Arc<crate::threads::Pool>>,
    /// Per slot: the step producing it (step values only).
    def_step: Vec<Option<usize>>,
    /// Per slot: the last step reading it (in this graph, subgraph reads included).
    last_use: Vec<Option<usize>>,
    /// Recycled tensor storage for runs of this plan (see [`crate::memory`]).
    pool: BufferPool,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plan({} steps)", self.steps.len())
    }
}

fn graph_key(g: &Arc<Graph>) -> usize {
    Arc::as_ptr(g) as usize
}

impl Plan {
    /// Compiles `graph`. `outer` lists names visible from enclosing scopes (empty for a main graph).
    pub fn compile(graph: Arc<Graph>, backend: &dyn Backend, outer: &HashSet<String>) -> Result<Plan> {
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        let mut slot_names: Vec<String> = Vec::new();
        let mut sources: Vec<Source> = Vec::new();
        macro_rules! new_slot {
            ($name:expr, $src:expr) => {{
                let id = slot_names.len();
                slot_names.push($name.to_string());
                sources.push($src);
                slot_of.insert($name.to_string(), id);
                id
            }};
        }

        let mut consts = Vec::new();
        for (name, t) in &graph.initializers {
            let id = new_slot!(name, Source::Const);
            consts.push((id, t.clone()));
        }
        let mut input_slots = Vec::new();
        for vi in &graph.inputs {
            if graph.initializers.contains_key(&vi.name) {
                continue; // IR<4: initializer listed as input; it may still be overridden by the caller
            }
            if slot_of.contains_key(&vi.name) {
                return Err(Error::InvalidModel(format!("graph input '{}' is declared twice", vi.name)));
            }
            let id = new_slot!(&vi.name, Source::Input);
            input_slots.push((vi.clone(), id));
        }
        // Initializers listed as inputs may be fed by the caller too (ONNX semantics).
        for vi in &graph.inputs {
            if let Some(&id) = slot_of.get(&vi.name) {
                if matches!(sources[id], Source::Const) {
                    input_slots.push((vi.clone(), id));
                }
            }
        }

        // Producers of each value.
        let mut producer: HashMap<&str, usize> = HashMap::new();
        for (i, n) in graph.nodes.iter().enumerate() {
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                if producer.insert(o.as_str(), i).is_some() || slot_of.contains_key(o) {
                    return Err(Error::InvalidModel(format!(
                        "value '{o}' is produced more than once (node '{}')",
                        n.name
                    )));
                }
            }
        }

        // Values each node needs, including those its subgraphs read from this scope.
        let needs = node_needs(&graph);

        // Every value a node reads is produced by a node, a graph input/initializer or the outer
        // scope.
        for (node, need) in graph.nodes.iter().zip(&needs) {
            if let Some(name) = need
                .iter()
                .find(|v| !producer.contains_key(v.as_str()) && !slot_of.contains_key(*v) && !outer.contains(*v))
            {
                return Err(Error::DanglingEdge { node: display_name(node), value: name.clone() });
            }
        }
        let order = topological_order(&graph, &needs, &producer)?;

        // Outer-scope names read in this graph get slots too.
        for need in &needs {
            for name in need {
                if !slot_of.contains_key(name) && !producer.contains_key(name.as_str()) {
                    new_slot!(name, Source::Outer);
                }
            }
        }

        let mut steps = Vec::with_capacity(order.len());
        let mut missing_kernels = Vec::new();
        let mut shapes = None;
        for &i in &order {
            let node = &graph.nodes[i];
            let inputs: Vec<Option<usize>> =
                node.inputs.iter().map(|s| if s.is_empty() { None } else { slot_of.get(s).copied() }).collect();
            let outputs: Vec<Option<usize>> = node
                .outputs
                .iter()
                .map(|o| if o.is_empty() { None } else { Some(new_slot!(o, Source::Step)) })
                .collect();
            let kernel = match backend.kernel(node) {
                Some(k) => k,
                None => {
                    missing_kernels.push(format!("{} ({})", node.op_type, display_name(node)));
                    node.op.clone()
                }
            };
            let kernel = prepare_kernel(kernel, node, &graph, &mut shapes)?;
            steps.push(Step { node: node.clone(), kernel, inputs, outputs, free_after: vec![], donate: vec![] });
        }
        if !missing_kernels.is_empty() {
            return Err(Error::Unsupported(format!(
                "backend {} cannot run: {}",
                backend.name(),
                missing_kernels.join(", ")
            )));
        }

        let mut output_slots = Vec::new();
        for o in &graph.outputs {
            match slot_of.get(&o.name) {
                Some(&s) => output_slots.push(s),
                None if outer.contains(&o.name) => output_slots.push(new_slot!(&o.name, Source::Outer)),
                None => return Err(Error::MissingOutput(o.name.clone())),
            }
        }

        let graph =
            release_absorbed(graph, &mut steps, &mut consts, &slot_names, &slot_of, &input_slots, &output_slots);

        // Last use of every slot produced or fed here; graph outputs are never freed.
        let keep: HashSet<usize> = output_slots.iter().copied().collect();
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (si, step) in steps.iter().enumerate() {
            let mut reads: Vec<usize> = step.inputs.iter().flatten().copied().collect();
            for g in node_subgraphs(&step.node) {
                reads.extend(g.free_values().iter().filter_map(|v| slot_of.get(v).copied()));
            }
            for s in reads {
                last_use.insert(s, si);
            }
        }
        for (&slot, &si) in &last_use {
            if !keep.contains(&slot) && matches!(sources[slot], Source::Step | Source::Input) {
                steps[si].free_after.push(slot);
            }
        }
        // Values produced but never read: free right away.
        for step in steps.iter_mut() {
            for s in step.outputs.iter().flatten() {
                if !keep.contains(s) && !last_use.contains_key(s) {
                    step.free_after.push(*s);
                }
            }
        }
        // In place: inputs the kernel can overwrite that die at this step and are read once by it.
        for step in steps.iter_mut() {
            for &k in step.kernel.inplace_inputs() {
                let Some(Some(s)) = step.inputs.get(k).copied() else { continue };
                let reads = step.inputs.iter().filter(|i| **i == Some(s)).count();
                if reads == 1 && step.free_after.contains(&s) && !step.donate.contains(&k) {
                    step.donate.push(k);
                }
            }
        }
        let mut def_step = vec![None; slot_names.len()];
        for (si, step) in steps.iter().enumerate() {
            for s in step.outputs.iter().flatten() {
                def_step[*s] = Some(si);
            }
        }
        let mut last_use_v = vec![None; slot_names.len()];
        for (&slot, &si) in &last_use {
            last_use_v[slot] = Some(si);
        }

        // Compile subgraphs once, with everything visible here as their outer scope.
        let mut visible: HashSet<String> = outer.clone();
        visible.extend(slot_of.keys().cloned());
        let mut subplans = HashMap::new();
        for step in &steps {
            for g in node_subgraphs(&step.node) {
                let p = Plan::compile(g.clone(), backend, &visible)
                    .map_err(|e| e.context(format!("subgraph '{}' of node '{}'", g.name, display_name(&step.node))))?;
                subplans.insert(graph_key(&g), Arc::new(p));
            }
        }

        Ok(Plan {
            graph,
            slot_names,
            slot_of,
            sources,
            consts,
            input_slots,
            output_slots,
            steps,
            subplans,
            def_step,
            last_use: last_use_v,
            pool: BufferPool::new(),
            thread_pool: None,
        })
    }

    /// The graph this plan runs.
    pub fn graph(&self) -> &Arc<Graph> {
        &self.graph
    }

    /// Number of steps (nodes) in execution order.
    pub fn num_steps(&self) -> usize {
        self.steps.len()
    }

    /// Nodes in execution order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.steps.iter().map(|s| &s.node)
    }

    /// Binds the symbolic dims of the graph inputs from concrete input shapes (by input name);
    /// an error when an input's rank or fixed dims disagree, or two inputs bind a dim differently.
    pub fn bind_dims(&self, shapes: &[(String, Vec<usize>)]) -> Result<HashMap<String, usize>> {
        let mut dims = HashMap::new();
        for (name, shape) in shapes {
            let Some((vi, _)) = self.input_slots.iter().find(|(vi, _)| &vi.name == name) else {
                return Err(Error::UnknownInput {
                    name: name.clone(),
                    expected: self.input_slots.iter().map(|(v, _)| v.name.clone()).collect(),
                });
            };
            if let Some(decl) = &vi.shape {
                if decl.len() != shape.len() {
                    return Err(Error::BadInput {
                        name: name.clone(),
                        msg: format!("expected rank {} ({}), got shape {shape:?}", decl.len(), vi.type_string()),
                    });
                }
                for (i, (d, &n)) in decl.iter().zip(shape).enumerate() {
                    match d {
                        Dim::Known(k) if *k != n => {
                            return Err(Error::BadInput {
                                name: name.clone(),
                                msg: format!("dimension {i} must be {k}, got shape {shape:?}"),
                            })
                        }
                        Dim::Sym(s) => {
                            if let Some(&prev) = dims.get(s) {
                                if prev != n {
                                    return Err(Error::BadInput {
                                        name: name.clone(),
                                        msg: format!(
                                            "dimension {i} ('{s}') is {n}, but another input set it to {prev}"
                                        ),
                                    });
                                }
                            }
                            dims.insert(s.clone(), n);
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(dims)
    }

    /// The static memory plan for symbolic dims bound to `dims` (see [`Plan::bind_dims`]): every
    /// intermediate value's size and lifetime [producing step, last reading step], in-place reuse
    /// where the kernel allows it, and one arena layout (see [`memory::layout`]). Values whose
    /// size static inference cannot tell are listed as dynamic. Nothing runs.
    pub fn memory_plan(&self, dims: &HashMap<String, usize>) -> MemoryPlan {
        let mut g = (*self.graph).clone();
        let bind = |shape: &mut Option<Vec<Dim>>| {
            for d in shape.iter_mut().flatten() {
                if let Dim::Sym(s) = d {
                    if let Some(&n) = dims.get(s.as_str()) {
                        *d = Dim::Known(n);
                    }
                }
            }
        };
        // Constants released after packing ([`release_absorbed`]) are known by type and shape only.
        for (name, &s) in &self.slot_of {
            if matches!(self.sources[s], Source::Const) && !g.initializers.contains_key(name) {
                g.inputs.extend(g.value_info.get(name).cloned());
            }
        }
        for vi in g.inputs.iter_mut() {
            bind(&mut vi.shape);
        }
        for vi in g.value_info.values_mut() {
            bind(&mut vi.shape);
        }
        let known = crate::infer::infer_graph(&g);
        let num_steps = self.steps.len();
        let keep: HashSet<usize> = self.output_slots.iter().copied().collect();
        let mut plan = MemoryPlan { num_steps, ..MemoryPlan::default() };
        let mut used: Vec<(String, usize)> = dims.iter().map(|(k, v)| (k.clone(), *v)).collect();
        used.sort();
        plan.dims = used;
        plan.weight_bytes = self.consts.iter().map(|(_, t)| t.nbytes()).sum::<usize>()
            + self.steps.iter().map(|s| s.kernel.held_bytes()).sum::<usize>();

        // Planned values in execution order, and their buffer (group) index.
        let mut entry_of: HashMap<usize, usize> = HashMap::new();
        let mut groups: Vec<Lifetime> = Vec::new();
        for (si, step) in self.steps.iter().enumerate() {
            for (oi, slot) in step.outputs.iter().enumerate() {
                let Some(slot) = *slot else { continue };
                let name = &self.slot_names[slot];
                let is_output = keep.contains(&slot);
                let last = if is_output { num_steps } else { self.last_use[slot].unwrap_or(si).max(si) };
                let mut vi = known.get(name).cloned().unwrap_or_default();
                bind(&mut vi.shape);
                let sized = match (vi.dtype, vi.concrete_shape()) {
                    (Some(dt), Some(shape)) => {
                        crate::checked_numel(&shape, dt, name).ok().map(|n| (dt, shape, n * dt.size()))
                    }
                    _ => None,
                };
                let Some((dtype, shape, bytes)) = sized else {
                    plan.dynamic.push(memory::DynamicValue {
                        value: name.clone(),
                        type_string: vi.type_string(),
                        def_step: si,
                        last_step: last,
                    });
                    continue;
                };
                // In place: the first output may take over a donated input of the same dtype and size.
                let mut buffer = None;
                let mut in_place_of = None;
                if oi == 0 {
                    for &k in &step.donate {
                        let Some(Some(src)) = step.inputs.get(k).copied() else { continue };
                        let Some(&e) = entry_of.get(&src) else { continue };
                        let donor: &memory::PlannedValue = &plan.values[e];
                        if donor.dtype == dtype && donor.bytes == bytes {
                            buffer = Some(donor.buffer);
                            in_place_of = Some(donor.value.clone());
                            break;
                        }
                    }
                }
                let buffer = match buffer {
                    Some(b) => {
                        groups[b].last = groups[b].last.max(last);
                        b
                    }
                    None => {
                        groups.push(Lifetime { bytes, first: si, last });
                        groups.len() - 1
                    }
                };
                entry_of.insert(slot, plan.values.len());
                plan.values.push(memory::PlannedValue {
                    value: name.clone(),
                    dtype,
                    shape,
                    bytes,
                    offset: 0,
                    buffer,
                    def_step: si,
                    last_step: last,
                    in_place_of,
                    is_output,
                });
            }
        }
        let (offsets, arena) = memory::layout(&groups);
        for v in plan.values.iter_mut() {
            v.offset = offsets[v.buffer];
        }
        let (peak, at) = memory::peak_live(&groups);
        plan.peak_live_bytes = peak;
        plan.peak_step = at;
        plan.arena_bytes = arena;
        plan.num_buffers = groups.len();
        plan.total_bytes = plan.values.iter().map(|v| v.bytes).sum();
        plan
    }

    /// Runs the plan with named tensor inputs; returns the graph outputs in order
    /// (an error if an output is a sequence or optional: use [`Plan::run_values`]).
    pub fn run(&self, inputs: Vec<(String, Tensor)>) -> Result<Vec<Tensor>> {
        let outs = self.run_values(inputs.into_iter().map(|(n, t)| (n, Value::from(t))).collect())?;
        outs.into_iter().map(Value::into_tensor).collect()
    }

    /// Sets how many threads the kernels of [`Plan::run_values`]/[`Plan::run_profiled`] may use
    /// (a process-wide pool shared with other plans of the same count; 1 = serial).
    pub fn set_threads(&mut self, n: usize) {
        self.set_pool(crate::threads::pool(n));
    }

    /// Runs kernels on this pool (`None`: serially); [`Plan::set_threads`] with a pool already in hand.
    pub fn set_pool(&mut self, pool: Option<Arc<crate::threads::Pool>>) {
        self.thread_pool = pool;
    }

    /// The number of threads kernels use (see [`Plan::set_threads`]).
    pub fn threads(&self) -> usize {
        self.thread_pool.as_ref().map_or(1, |p| p.threads())
    }

    /// Runs the plan with named values (tensors, sequences, optionals).
    pub fn run_values(&self, inputs: Vec<(String, Value)>) -> Result<Vec<Value>> {
        crate::threads::run_in(self.thread_pool.as_deref(), || self.run_values_here(inputs))
    }

    fn run_values_here(&self, inputs: Vec<(String, Value)>) -> Result<Vec<Value>> {
        let mut values: Vec<Option<Value>> = vec![None; self.slot_names.len()];
        for (s, t) in &self.consts {
            values[*s] = Some(Value::Tensor(t.clone()));
        }
        self.bind_inputs(&mut values, inputs)?;
        let scope = self.pool.enter();
        let mut observed = self.observe(&scope);
        let outs = self.execute(values, None, None, observed.as_mut());
        self.set_pool_cap(observed);
        outs
    }

    /// The buffer pool runs of this plan allocate from (stats, cap, on/off switch).
    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// Turns the buffer pool on or off (also `ZENRT_POOL=0` in the environment); results are the
    /// same either way.
    pub fn set_pool_enabled(&self, on: bool) {
        self.pool.set_enabled(on)
    }

    /// Whether this run should record value sizes (the first pooled run decides the pool's cap).
    fn observe(&self, scope: &memory::PoolScope) -> Option<Vec<usize>> {
        (scope.is_active() && !self.pool.is_capped()).then(|| vec![0usize; self.slot_names.len()])
    }

    /// Caps the pool from the first run: see [`BufferPool::cap_after_run`].
    fn set_pool_cap(&self, observed: Option<Vec<usize>>) {
        let Some(sizes) = observed else { return };
        let lifetimes: Vec<Lifetime> = (0..sizes.len())
            .filter_map(|s| {
                let first = self.def_step[s]?;
                let last = self.last_use[s].unwrap_or(first).max(first);
                (sizes[s] > 0).then_some(Lifetime { bytes: sizes[s], first, last })
            })
            .collect();
        let (_, arena) = memory::layout(&lifetimes);
        self.pool.cap_after_run(arena);
    }

    /// Runs like [`Plan::run_values`] and also times every step of the main graph, in execution order
    /// (the time of a control-flow node includes its subgraphs).
    pub fn run_profiled(&self, inputs: Vec<(String, Value)>) -> Result<(Vec<Value>, Vec<StepTiming>)> {
        crate::threads::run_in(self.thread_pool.as_deref(), || self.run_profiled_here(inputs))
    }

    fn run_profiled_here(&self, inputs: Vec<(String, Value)>) -> Result<(Vec<Value>, Vec<StepTiming>)> {
        let mut values: Vec<Option<Value>> = vec![None; self.slot_names.len()];
        for (s, t) in &self.consts {
            values[*s] = Some(Value::Tensor(t.clone()));
        }
        self.bind_inputs(&mut values, inputs)?;
        let mut timings = Vec::with_capacity(self.steps.len());
        let scope = self.pool.enter();
        let mut observed = self.observe(&scope);
        let outs = self.execute(values, None, Some(&mut timings), observed.as_mut());
        self.set_pool_cap(observed);
        Ok((outs?, timings))
    }

    fn bind_inputs(&self, values: &mut [Option<Value>], inputs: Vec<(String, Value)>) -> Result<()> {
        let mut fed = HashSet::new();
        let mut sym: HashMap<String, usize> = HashMap::new();
        for (name, t) in inputs {
            let Some((vi, slot)) = self.input_slots.iter().find(|(vi, _)| vi.name == name) else {
                return Err(Error::UnknownInput {
                    name,
                    expected: self
                        .input_slots
                        .iter()
                        .filter(|(_, s)| matches!(self.sources[*s], Source::Input))
                        .map(|(v, _)| v.name.clone())
                        .collect(),
                });
            };
            if let Value::Tensor(t) = &t {
                check_input(vi, t, &mut sym)?;
            }
            fed.insert(*slot);
            values[*slot] = Some(t);
        }
        for (vi, slot) in &self.input_slots {
            if matches!(self.sources[*slot], Source::Input) && !fed.contains(slot) {
                return Err(Error::MissingInput(vi.name.clone()));
            }
        }
        Ok(())
    }

    /// Runs the steps; when `profile` is given, each step's wall time is appended to it; when
    /// `observed` is given, each step value's size in bytes is recorded in it (by slot).
    fn execute(
        &self,
        mut values: Vec<Option<Value>>,
        outer: Option<&Scope>,
        mut profile: Option<&mut Vec<StepTiming>>,
        mut observed: Option<&mut Vec<usize>>,
    ) -> Result<Vec<Value>> {
        // Outer-scope reads are resolved once per run.
        if let Some(sc) = outer {
            for (slot, src) in self.sources.iter().enumerate() {
                if matches!(src, Source::Outer) {
                    values[slot] = sc.lookup(&self.slot_names[slot]);
                }
            }
        }
        for step in &self.steps {
            for (k, s) in step.inputs.iter().enumerate() {
                if let Some(s) = s {
                    if values[*s].is_none() {
                        return Err(Error::Invalid(format!("input '{}' has no value", step.node.inputs[k]))
                            .in_node(&display_name(&step.node), &step.node.op_type));
                    }
                }
            }
            let started = profile.is_some().then(Instant::now);
            let outs = if step.donate.is_empty() || !all_tensors(step, &values) {
                let args: Vec<Option<&Value>> =
                    step.inputs.iter().map(|s| s.and_then(|s| values[s].as_ref())).collect();
                let scope = Scope { plan: self, values: &values, parent: outer };
                step.kernel.run_values(&scope, &args)
            } else {
                self.run_inplace(step, &mut values, outer)
            }
            .map_err(|e| e.in_node(&display_name(&step.node), &step.node.op_type))?;
            if let (Some(sink), Some(t0)) = (profile.as_deref_mut(), started) {
                sink.push(StepTiming {
                    node: display_name(&step.node),
                    op_type: step.node.op_type.clone(),
                    elapsed: t0.elapsed(),
                });
            }
            if outs.len() < step.outputs.iter().filter(|o| o.is_some()).count() {
                return Err(Error::Invalid(format!(
                    "operator returned {} outputs, node has {}",
                    outs.len(),
                    step.outputs.len()
                ))
                .in_node(&display_name(&step.node), &step.node.op_type));
            }
            for (slot, t) in step.outputs.iter().zip(outs) {
                if let Some(slot) = slot {
                    if let (Some(obs), Value::Tensor(t)) = (observed.as_deref_mut(), &t) {
                        obs[*slot] = t.nbytes();
                    }
                    values[*slot] = Some(t);
                }
            }
            for &s in &step.free_after {
                release(values[s].take());
            }
        }
        self.output_slots
            .iter()
            .map(|&s| values[s].clone().ok_or_else(|| Error::MissingOutput(self.slot_names[s].clone())))
            .collect()
    }

    /// Runs a step whose kernel can work in place: inputs dying here that the executor holds the
    /// only reference to are moved into the call ([`InArg::Owned`]).
    fn run_inplace(&self, step: &Step, values: &mut [Option<Value>], outer: Option<&Scope>) -> Result<Vec<Value>> {
        let mut taken: Vec<Option<Tensor>> = Vec::new();
        for &k in &step.donate {
            let Some(Some(s)) = step.inputs.get(k).copied() else { continue };
            if let Some(Value::Tensor(arc)) = values[s].take() {
                match Arc::try_unwrap(arc) {
                    Ok(t) => {
                        if taken.len() <= k {
                            taken.resize_with(k + 1, || None);
                        }
                        taken[k] = Some(t);
                    }
                    Err(arc) => values[s] = Some(Value::Tensor(arc)),
                }
            }
        }
        let values: &[Option<Value>] = values;
        let mut args: Vec<Option<InArg>> = Vec::with_capacity(step.inputs.len());
        for (k, s) in step.inputs.iter().enumerate() {
            if let Some(t) = taken.get_mut(k).and_then(Option::take) {
                args.push(Some(InArg::Owned(t)));
                continue;
            }
            args.push(match s.and_then(|s| values[s].as_ref()) {
                None | Some(Value::Optional(None)) => None,
                Some(Value::Tensor(t)) => Some(InArg::Ref(t)),
                Some(Value::Optional(Some(b))) => Some(InArg::Ref(b.as_tensor()?)),
                Some(other) => {
                    return Err(Error::Unsupported(format!("{} input to a tensor operator", other.kind_name())))
                }
            });
        }
        let scope = Scope { plan: self, values, parent: outer };
        let outs = step.kernel.run_inplace(&scope, &mut args);
        for a in args.into_iter().flatten() {
            if let InArg::Owned(t) = a {
                memory::recycle_data(t.into_data());
            }
        }
        Ok(outs?.into_iter().map(Value::from).collect())
    }
}

/// Whether every present input of `step` is a plain tensor (the in-place path takes tensors only).
fn all_tensors(step: &Step, values: &[Option<Value>]) -> bool {
    step.inputs.iter().flatten().all(|&s| matches!(values[s], Some(Value::Tensor(_)) | None))
}

/// Drops a freed value, giving its storage to the running pool when nothing else refers to it.
fn release(v: Option<Value>) {
    if let Some(Value::Tensor(arc)) = v {
        if let Ok(t) = Arc::try_unwrap(arc) {
            memory::recycle_data(t.into_data());
        }
    }
}

/// The values visible while a step runs; subgraphs resolve outer names through it.
struct Scope<'a> {
    plan: &'a Plan,
    values: &'a [Option<Value>],
    parent: Option<&'a Scope<'a>>,
}

impl Scope<'_> {
    fn lookup(&self, name: &str) -> Option<Value> {
        if let Some(&s) = self.plan.slot_of.get(name) {
            if let Some(v) = &self.values[s] {
                return Some(v.clone());
            }
        }
        self.parent.and_then(|p| p.lookup(name))
    }
}

impl ExecCtx for Scope<'_> {
    fn run_subgraph_values(&self, graph: &Arc<Graph>, inputs: Vec<Value>) -> Result<Vec<Value>> {
        let compiled;
        let plan = match self.plan.subplans.get(&graph_key(graph)) {
            Some(p) => p.as_ref(),
            None => {
                let mut visible: HashSet<String> = self.plan.slot_of.keys().cloned().collect();
                let mut p = self.parent;
                while let Some(sc) = p {
                    visible.extend(sc.plan.slot_of.keys().cloned());
                    p = sc.parent;
                }
                compiled = Plan::compile(graph.clone(), &ReferenceBackend, &visible)?;
                &compiled
            }
        };
        let formal: Vec<&ValueInfo> =
            plan.graph.inputs.iter().filter(|i| !plan.graph.initializers.contains_key(&i.name)).collect();
        if formal.len() != inputs.len() {
            return Err(Error::Invalid(format!(
                "subgraph '{}' takes {} inputs, got {}",
                graph.name,
                formal.len(),
                inputs.len()
            )));
        }
        let mut values: Vec<Option<Value>> = vec![None; plan.slot_names.len()];
        for (s, t) in &plan.consts {
            values[*s] = Some(Value::Tensor(t.clone()));
        }
        for (vi, t) in formal.iter().zip(inputs) {
            let slot = plan.slot_of[&vi.name];
            values[slot] = Some(t);
        }
        plan.execute(values, Some(self), None, None)
    }
}

fn check_input(vi: &ValueInfo, t: &Tensor, sym: &mut HashMap<String, usize>) -> Result<()> {
    if let Some(dt) = vi.dtype {
        if dt != t.dtype() {
            return Err(Error::BadInput {
                name: vi.name.clone(),
                msg: format!("expected dtype {dt}, got {}", t.dtype()),
            });
        }
    }
    if let Some(shape) = &vi.shape {
        if shape.len() != t.rank() {
            return Err(Error::BadInput {
                name: vi.name.clone(),
                msg: format!("expected rank {} ({}), got shape {:?}", shape.len(), vi.type_string(), t.shape()),
            });
        }
        for (i, (d, &n)) in shape.iter().zip(t.shape()).enumerate() {
            match d {
                Dim::Known(k) if *k != n => {
                    return Err(Error::BadInput {
                        name: vi.name.clone(),
                        msg: format!("dimension {i} must be {k} ({}), got shape {:?}", vi.type_string(), t.shape()),
                    })
                }
                Dim::Sym(s) => {
                    if let Some(&prev) = sym.get(s) {
                        if prev != n {
                            return Err(Error::BadInput {
                                name: vi.name.clone(),
                                msg: format!("dimension {i} ('{s}') is {n}, but another input set '{s}' to {prev}"),
                            });
                        }
                    } else {
                        sym.insert(s.clone(), n);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Releases the constants that no step reads any more because every reader's kernel absorbed
/// them (packed weights, [`Op::absorbed_inputs`]): their step inputs become `None`, they leave
/// `consts`, and the plan's copy of the graph keeps only their type and shape (in `value_info`),
/// so the weights' memory is freed once the caller drops its own references. Graph outputs,
/// constants the caller may override (listed as inputs) and values subgraphs read are kept.
fn release_absorbed(
    graph: Arc<Graph>,
    steps: &mut [Step],
    consts: &mut Vec<(usize, Arc<Tensor>)>,
    slot_names: &[String],
    slot_of: &HashMap<String, usize>,
    input_slots: &[(ValueInfo, usize)],
    output_slots: &[usize],
) -> Arc<Graph> {
    let mut kept: HashSet<usize> = output_slots.iter().chain(input_slots.iter().map(|(_, s)| s)).copied().collect();
    for step in steps.iter() {
        for g in node_subgraphs(&step.node) {
            kept.extend(g.free_values().iter().filter_map(|v| slot_of.get(v).copied()));
        }
        let absorbed = step.kernel.absorbed_inputs();
        kept.extend(step.inputs.iter().enumerate().filter(|(k, _)| !absorbed.contains(k)).filter_map(|(_, s)| *s));
    }
    let (kept_consts, released): (Vec<_>, Vec<_>) =
        std::mem::take(consts).into_iter().partition(|(s, _)| kept.contains(s));
    *consts = kept_consts;
    if released.is_empty() {
        return graph;
    }
    let gone: HashSet<usize> = released.iter().map(|(s, _)| *s).collect();
    for step in steps.iter_mut() {
        for i in step.inputs.iter_mut() {
            if i.is_some_and(|s| gone.contains(&s)) {
                *i = None;
            }
        }
    }
    let mut g = (*graph).clone();
    for (s, t) in released {
        let name = &slot_names[s];
        g.initializers.remove(name);
        let shape = t.shape().iter().map(|&d| Dim::Known(d)).collect();
        g.value_info.insert(name.clone(), ValueInfo::new(name.clone(), Some(t.dtype()), Some(shape)));
    }
    Arc::new(g)
}

/// Lets `kernel` specialise itself for the node's constant inputs (initializers the caller cannot
/// override), e.g. pre-pack weights; see [`Op::prepare`]. `shapes`: the graph's static shapes,
/// inferred on first need.
fn prepare_kernel(
    kernel: Arc<dyn Op>,
    node: &Node,
    graph: &Graph,
    shapes: &mut Option<HashMap<String, ValueInfo>>,
) -> Result<Arc<dyn Op>> {
    let consts: Vec<Option<&Tensor>> = node
        .inputs
        .iter()
        .map(|n| match graph.inputs.iter().any(|i| &i.name == n) {
            true => None,
            false => graph.initializers.get(n).map(|t| t.as_ref()),
        })
        .collect();
    if consts.iter().all(Option::is_none) {
        return Ok(kernel);
    }
    let shapes = shapes.get_or_insert_with(|| crate::infer::infer_graph(graph));
    let infos: Vec<Option<&ValueInfo>> = node.inputs.iter().map(|n| shapes.get(n)).collect();
    let prepared = kernel.prepare_shaped(&consts, &infos).map_err(|e| e.in_node(&display_name(node), &node.op_type))?;
    Ok(prepared.unwrap_or(kernel))
}

/// The subgraphs held in a node's attributes.
/// The values each node of `graph` reads: its inputs and what its subgraphs read from this scope.
pub(crate) fn node_needs(graph: &Graph) -> Vec<Vec<String>> {
    graph
        .nodes
        .iter()
        .map(|n| {
            let mut v: Vec<String> = n.inputs.iter().filter(|i| !i.is_empty()).cloned().collect();
            for g in node_subgraphs(n) {
                v.extend(g.free_values());
            }
            v
        })
        .collect()
}

/// The nodes of `graph` in topological order (Kahn), stable with respect to file order, given
/// what each reads (`needs`, from [`node_needs`]) and which node produces each value; values no
/// node produces are ignored. `Err(Error::Cycle)` names the nodes on or behind a cycle.
pub(crate) fn topological_order(
    graph: &Graph,
    needs: &[Vec<String>],
    producer: &HashMap<&str, usize>,
) -> Result<Vec<usize>> {
    let n = graph.nodes.len();
    let mut indeg = vec![0usize; n];
    let mut users: Vec<Vec<usize>> = vec![vec![]; n];
    for (i, need) in needs.iter().enumerate() {
        let mut seen = HashSet::new();
        for &p in need.iter().filter_map(|name| producer.get(name.as_str())) {
            if seen.insert(p) {
                indeg[i] += 1;
                users[p].push(i);
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if order.len() != n {
        let stuck: Vec<String> = (0..n).filter(|&i| indeg[i] > 0).map(|i| display_name(&graph.nodes[i])).collect();
        return Err(Error::Cycle(stuck));
    }
    Ok(order)
}

pub fn node_subgraphs(n: &Node) -> Vec<Arc<Graph>> {
    let mut v = Vec::new();
    for a in n.attrs.values() {
        match a {
            Attr::Graph(g) => v.push(g.clone()),
            Attr::Graphs(gs) => v.extend(gs.iter().cloned()),
            _ => {}
        }
    }
    v
}

/// A node's name for messages (its first output when unnamed).
pub fn display_name(n: &Node) -> String {
    if !n.name.is_empty() {
        n.name.clone()
    } else {
        format!("{}→{}", n.op_type, n.outputs.first().cloned().unwrap_or_default())
    }
}
