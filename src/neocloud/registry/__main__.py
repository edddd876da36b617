"""``python -m neocloud.registry --markdown``: print the stages with what each reads and makes."""

from neocloud.registry import main

raise SystemExit(main())
