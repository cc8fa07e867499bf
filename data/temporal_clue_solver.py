"""The rules of a Temporal Clue night as a CP-SAT model (OR-Tools), in which the puzzle generator
(`data/temporal_clue_puzzles.py`) looks for another night that fits the clues but answers differently."""

from data.temporal_clue_night import Night

# CP-SAT's limit per solve, in its deterministic time units (about seconds, but the same on every machine).
SOLVE_LIMIT = 20.0


class Model:
    """The rules of a night of this size as a CP-SAT model, with a reified literal for any expression: the literal is
    true exactly when the expression is. Clues are added as assumptions, so one model serves every solve."""

    def __init__(self, night: Night):
        from ortools.sat.python import cp_model

        self.cp, self.night = cp_model, night
        self.model = model = cp_model.CpModel()
        self._cache = {}
        n_times, rooms = len(night.times), range(len(night.rooms))
        self.x = {p: [[model.new_bool_var("") for r in rooms] for t in range(n_times)] for p in night.pieces}
        for grid in self.x.values():
            for row in grid:
                model.add_exactly_one(row)
        suspects = [p for p in night.pieces if p[0] == "suspect"]
        self.killer = self._one_of(len(night.suspects))
        self.weapon = self._one_of(len(night.weapons))
        self.room = self._one_of(len(night.rooms))
        self.time = self._one_of(n_times)
        self.motive = [self._one_of(len(night.motives)) for _ in night.suspects]
        for m in range(len(night.motives)):  # the number of suspects with each motive is given in the prompt
            model.add(sum(row[m] for row in self.motive) == night.motive.count(m))

        for p, grid in self.x.items():  # stay, or move to an adjacent room
            for t in range(1, n_times):
                for r in rooms:
                    model.add_bool_or([grid[t - 1][r].Not(), grid[t][r]] + [grid[t][n] for n in night.neighbours(r)])
                    if p[0] == "weapon":  # only with a suspect making the same move
                        for n in night.neighbours(r):
                            model.add_bool_or([grid[t - 1][r].Not(), grid[t][n].Not()]
                                              + [self.literal(("move", s, t, r, n)) for s in suspects])
        for t in range(n_times):  # the murder: killer and weapon there, no other suspect, Mr. Boddy from then on
            for r in rooms:
                scene = [self.room[r].Not(), self.time[t].Not()]
                model.add(sum(self.x[s][t][r] for s in suspects) <= 1).only_enforce_if([self.room[r], self.time[t]])
                for i, s in enumerate(suspects):
                    model.add_bool_or(scene + [self.killer[i].Not(), self.x[s][t][r]])
                for w in range(len(night.weapons)):
                    model.add_bool_or(scene + [self.weapon[w].Not(), self.x["weapon", w][t][r]])
                for later in range(t, n_times):
                    model.add_bool_or(scene + [self.x["boddy", 0][later][r]])

    def hint(self, night: Night) -> None:
        """Start each search from this night."""
        for p, grid in self.x.items():
            for t, row in enumerate(grid):
                for r, lit in enumerate(row):
                    self.model.add_hint(lit, night.where[p][t] == r)
        for row, value in [(self.killer, night.murderer), (self.weapon, night.weapon), (self.room, night.room),
                           (self.time, night.time)] + list(zip(self.motive, night.motive)):
            for i, lit in enumerate(row):
                self.model.add_hint(lit, i == value)

    def _one_of(self, count: int) -> list:
        row = [self.model.new_bool_var("") for _ in range(count)]
        self.model.add_exactly_one(row)
        return row

    def _all(self, literals: list):
        """A literal true exactly when all of `literals` are."""
        if len(literals) == 1:
            return literals[0]
        b = self.model.new_bool_var("")
        for lit in literals:
            self.model.add_implication(b, lit)
        self.model.add_bool_or([b] + [lit.Not() for lit in literals])
        return b

    def _any(self, literals: list):
        """A literal true exactly when any of `literals` is: not all of them false."""
        return self._all([lit.Not() for lit in literals]).Not()

    def _choices(self, subject: tuple) -> list[tuple]:
        """(piece, literals that make the subject that piece) for each piece the subject may stand for."""
        kind, index = subject
        if kind == "murderer":
            return [(("suspect", s), [self.killer[s]]) for s in range(len(self.night.suspects))]
        if kind == "murder weapon":
            return [(("weapon", w), [self.weapon[w]]) for w in range(len(self.night.weapons))]
        if kind == "motive":
            return [(("suspect", s), [self.motive[s][index]]) for s in range(len(self.night.suspects))]
        return [(subject, [])]

    def literal(self, expr: tuple):
        """A literal equivalent to the expression (built once, then cached)."""
        if expr not in self._cache:
            self._cache[expr] = self._build(expr)
        return self._cache[expr]

    def _build(self, expr: tuple):
        kind, x, n_times = expr[0], self.x, len(self.night.times)
        if kind in ("at", "move", "same_room", "together", "beside"):
            subject, terms = expr[1], []
            for p, chosen in self._choices(subject):
                if kind == "at":
                    terms.append(chosen + [x[p][expr[2]][expr[3]]])
                elif kind == "move":
                    _, _, t, a, b = expr
                    terms.append(chosen + [x[p][t - 1][a], x[p][t][b]])
                elif p != expr[2]:
                    q = expr[2]
                    if kind == "same_room":
                        t = expr[3]
                        places = [(t, r, r) for r in range(len(self.night.rooms))]
                    elif kind == "together":
                        places = [(t, expr[3], expr[3]) for t in range(n_times)]
                    else:
                        t = expr[3]
                        places = [(t, a, b) for a, b in self.night.pairs(expr[4])]
                    terms += [chosen + [x[p][t][a], x[q][t][b]] for t, a, b in places]
            return self._any([self._all(term) for term in terms])
        if kind == "carry":
            _, subject, weapon, t, a, b = expr
            return self._all([self.literal(("move", subject, t, a, b)), self.literal(("move", weapon, t, a, b))])
        if kind == "motive":
            return self.motive[expr[1]][expr[2]]
        if kind == "why":
            return self._any([self._all([self.killer[s], self.motive[s][expr[1]]])
                              for s in range(len(self.night.suspects))])
        if kind == "or":
            return self._any([self.literal(expr[1]), self.literal(expr[2])])
        if kind == "iff":
            b = self.model.new_bool_var("")
            first, second = self.literal(expr[1]), self.literal(expr[2])
            self.model.add(first == second).only_enforce_if(b)
            self.model.add(first != second).only_enforce_if(b.Not())
            return b
        return {"killer": self.killer, "weapon": self.weapon, "room": self.room, "time": self.time}[kind][expr[1]]

    def solve(self, assumptions: list, seed: int):
        """(status name, the night found or None, the indices of the assumptions in an unsatisfiable core)."""
        self.model.clear_assumptions()
        self.model.add_assumptions(assumptions)
        solver = self.cp.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = seed
        solver.parameters.max_deterministic_time = SOLVE_LIMIT
        # Presolve, probing, symmetry detection and LP relaxations cost 30 times more than the search on these
        # models, which are clauses that propagation settles quickly. (With probing off, OR-Tools 9.15's core can
        # leave out an assumption it needed: `make_clues` solves each core again before it takes it.)
        solver.parameters.cp_model_presolve = False
        solver.parameters.cp_model_probing_level = 0
        solver.parameters.symmetry_level = 0
        solver.parameters.linearization_level = 0
        status = solver.status_name(solver.solve(self.model))
        if status == "INFEASIBLE":
            return status, None, set(solver.sufficient_assumptions_for_infeasibility())
        if status not in ("FEASIBLE", "OPTIMAL"):
            return status, None, set()
        return status, self._read(solver), set()

    def _read(self, solver) -> Night:
        night = self.night

        def index(row):
            return next(i for i, lit in enumerate(row) if solver.boolean_value(lit))

        where = {p: [index(row) for row in grid] for p, grid in self.x.items()}
        return Night(night.suspects, night.weapons, night.rooms, night.columns, night.times, night.motives,
                     [index(row) for row in self.motive], where, index(self.killer), index(self.weapon),
                     index(self.room), index(self.time))
