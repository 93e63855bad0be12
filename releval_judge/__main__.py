from releval_judge.cli import main

raise SystemExit(main())
