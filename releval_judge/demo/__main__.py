"""``python -m releval_judge.demo [options]``: the demo without the main CLI."""

from releval_judge.demo.run import main

raise SystemExit(main())
